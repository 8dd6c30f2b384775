"""Every name and import path the original extension documented still works."""

from __future__ import annotations

import importlib
import logging

import pytest

import autogen_kafka_extension

DOCUMENTED = {
    "autogen_kafka_extension": [
        "KafkaAgentRuntime",
        "KafkaAgentRuntimeConfig",
        "KafkaAgentRuntimeFactory",
        "KafkaConfig",
        "SchemaRegistryConfig",
        "KafkaStreamingAgent",
        "KafkaAgentConfig",
        "KafkaMemory",
        "KafkaMemoryConfig",
    ],
    "autogen_kafka_extension.agent.kafka_message_type": ["KafkaMessageType"],
    "autogen_kafka_extension.agent.kafka_streaming_agent": ["KafkaStreamingAgent"],
    "autogen_kafka_extension.agent.kafka_agent_config": ["KafkaAgentConfig"],
    "autogen_kafka_extension.memory.kafka_memory": ["KafkaMemory"],
    "autogen_kafka_extension.memory.memory_config": ["KafkaMemoryConfig"],
    "autogen_kafka_extension.runtimes.kafka_agent_runtime": ["KafkaAgentRuntime"],
    "autogen_kafka_extension.runtimes.worker_config": ["KafkaAgentRuntimeConfig"],
    "autogen_kafka_extension.shared.kafka_config": ["KafkaConfig", "SchemaRegistryConfig"],
}


@pytest.mark.parametrize(("module", "names"), DOCUMENTED.items())
def test_documented_names_import(module: str, names: list[str]) -> None:
    imported = importlib.import_module(module)
    for name in names:
        assert getattr(imported, name) is not None, f"{module}.{name}"


def test_re_exports_are_the_package_objects() -> None:
    import akx_bridge
    import akx_events
    import akx_memory
    import akx_runtime

    assert autogen_kafka_extension.KafkaAgentRuntime is akx_runtime.KafkaAgentRuntime
    assert autogen_kafka_extension.KafkaStreamingAgent is akx_bridge.KafkaStreamingAgent
    assert autogen_kafka_extension.KafkaMemory is akx_memory.KafkaMemory
    assert autogen_kafka_extension.KafkaConfig is akx_events.KafkaConfig


def test_all_is_sorted_and_complete() -> None:
    exported = autogen_kafka_extension.__all__
    assert exported == sorted(exported)
    for name in exported:
        assert hasattr(autogen_kafka_extension, name)


def test_documented_logger_names_are_used() -> None:
    # Users configure these names; the runtime logs under the first one.
    import akx_runtime._runtime as runtime_module

    assert runtime_module.logger is logging.getLogger(
        "autogen_kafka_extension.runtimes.kafka_agent_runtime"
    )
