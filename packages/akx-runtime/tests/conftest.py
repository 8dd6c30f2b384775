"""Shared fixtures of the akx-runtime tests: runtime configs on the session's stack."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from akx_dev import KafkaStack
from akx_events import KafkaConfig
from akx_runtime import KafkaAgentRuntimeConfig

#: Short enough that a bug fails the test quickly instead of hanging it.
REQUEST_TIMEOUT = 10.0

RuntimeConfigFactory = Callable[..., KafkaAgentRuntimeConfig]


def kafka_config_for(stack: KafkaStack, name: str = "akx-test") -> KafkaConfig:
    """A KafkaConfig for the session stack, with its fast embedded-broker settings."""
    return stack.kafka_config(name, num_partitions=2)


@pytest.fixture
def runtime_config(
    kafka_stack: KafkaStack, topic_name: Callable[[str], str]
) -> RuntimeConfigFactory:
    """Return a factory of runtime configs sharing this test's own topics.

    Every call gives a new worker id; keyword arguments override config fields.
    """
    topics = {
        "request_topic": topic_name("req"),
        "response_topic": topic_name("resp"),
        "registry_topic": topic_name("reg"),
        "subscription_topic": topic_name("sub"),
        "publish_topic": topic_name("pub"),
    }
    kafka = kafka_config_for(kafka_stack)

    def make(**overrides: object) -> KafkaAgentRuntimeConfig:
        values: dict[str, object] = {
            "kafka_config": kafka,
            "request_timeout": REQUEST_TIMEOUT,
            **topics,
            **overrides,
        }
        return KafkaAgentRuntimeConfig(**values)  # type: ignore[arg-type]

    return make
