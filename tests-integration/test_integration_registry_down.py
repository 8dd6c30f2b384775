"""Schema Registry down while runtime, bridge and memory run.

Everything registers its schemas when it starts and never asks the registry again for
them, so running components keep working; what needs a schema the process has not seen
(a bridge with new message types, a new worker) fails with a typed, retriable error
that names the registry, within bounded time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from autogen_core import AgentId, BaseAgent, CancellationToken, MessageContext
from autogen_core.memory import MemoryContent, MemoryMimeType

from akx_bridge import KafkaAgentConfig, KafkaMessageType, KafkaStreamingAgent, RequestProcessor
from akx_dev import DevSchemaRegistry, KafkaStack
from akx_events import KafkaConfig, SchemaRegistryConfig, SchemaRegistryError
from akx_memory import KafkaMemory, KafkaMemoryConfig
from akx_runtime import KafkaAgentRuntime, KafkaAgentRuntimeConfig

#: A refused connection is retried 3 times with full-jitter backoff (at most 1 + 2 + 4 s).
REFUSED_BOUND = 9.0


class _Echo(BaseAgent):
    def __init__(self) -> None:
        super().__init__("echo")

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> Any:
        return f"echo:{message}"


@dataclass
class Question(KafkaMessageType):
    avro_namespace = "akx.tests.registrydown"
    text: str


@dataclass
class Reply(KafkaMessageType):
    avro_namespace = "akx.tests.registrydown"
    text: str


@dataclass
class NewQuestion(KafkaMessageType):
    avro_namespace = "akx.tests.registrydown"
    text: str


def _context() -> MessageContext:
    return MessageContext(
        sender=None,
        topic_id=None,
        is_rpc=True,
        cancellation_token=CancellationToken(),
        message_id="m",
    )


async def test_running_components_keep_working_and_new_schemas_fail_typed(
    kafka_stack: KafkaStack, topic_name: Callable[[str], str]
) -> None:
    registry = DevSchemaRegistry(
        kafka_stack.bootstrap_servers,
        topic=topic_name("schemas"),
        consumer_settings=kafka_stack.consumer_settings(),
        producer_settings=kafka_stack.producer_settings(),
    ).start()
    url = registry.url
    kafka: KafkaConfig = kafka_stack.kafka_config(
        "registry-down", schema_registry_config=SchemaRegistryConfig(url=url)
    )
    runtime_config = KafkaAgentRuntimeConfig(
        kafka_config=kafka,
        request_topic=topic_name("req"),
        response_topic=topic_name("resp"),
        registry_topic=topic_name("reg"),
        subscription_topic=topic_name("sub"),
        publish_topic=topic_name("pub"),
        request_timeout=10,
    )
    bridge_config = KafkaAgentConfig(
        kafka_config=kafka,
        request_topic=topic_name("q"),
        response_topic=topic_name("r"),
        request_timeout=10,
    )

    async def answer(question: Question) -> Reply:
        return Reply(text=question.text[::-1])

    runtime = KafkaAgentRuntime(runtime_config)
    await runtime.register_factory("echo", _Echo)
    processor = RequestProcessor(bridge_config, answer, request_type=Question, response_type=Reply)
    bridge = KafkaStreamingAgent(bridge_config, "q", Question, Reply)
    memory = KafkaMemory(KafkaMemoryConfig(kafka_config=kafka, memory_topic=topic_name("m")), "s")
    new_bridge = KafkaStreamingAgent(
        KafkaAgentConfig(
            kafka_config=kafka,
            request_topic=topic_name("q2"),
            response_topic=topic_name("r2"),
            request_timeout=10,
        ),
        "new",
        NewQuestion,
        Reply,
    )
    late_worker = KafkaAgentRuntime(
        KafkaAgentRuntimeConfig(
            kafka_config=kafka,
            request_topic=runtime_config.request_topic,
            response_topic=runtime_config.response_topic,
            registry_topic=runtime_config.registry_topic,
            subscription_topic=runtime_config.subscription_topic,
            publish_topic=runtime_config.publish_topic,
            start_timeout=20,
        )
    )
    try:
        await runtime.start()
        await processor.start()
        await bridge.start()
        await memory.start()
        registry.stop()

        # Running components: no registry round trip, so no failure.
        assert await runtime.send_message("hi", AgentId("echo", "k")) == "echo:hi"
        assert await bridge.on_message(Question(text="abc"), _context()) == Reply(text="cba")
        await memory.add(MemoryContent(content="kept", mime_type=MemoryMimeType.TEXT))
        assert [c.content for c in memory.entries().values()] == ["kept"]

        # A schema never seen by this process: typed, retriable, names the registry.
        started = time.monotonic()
        with pytest.raises(SchemaRegistryError) as raised:
            await new_bridge.on_message(NewQuestion(text="?"), _context())
        elapsed = time.monotonic() - started
        assert elapsed < REFUSED_BOUND, elapsed
        assert raised.value.retriable and url in str(raised.value)
        # A worker starting now cannot register the event schemas either.
        started = time.monotonic()
        with pytest.raises(SchemaRegistryError, match="unreachable") as raised:
            await late_worker.start()
        worker_elapsed = time.monotonic() - started
        assert worker_elapsed < REFUSED_BOUND + 5, worker_elapsed
        # The figures quoted in docs/reliability.md (run with -s to see them).
        print(f"new bridge failed after {elapsed:.2f} s, new worker after {worker_elapsed:.2f} s")
        assert url in str(raised.value)

        # ... and the running ones are still fine afterwards.
        assert await runtime.send_message("again", AgentId("echo", "k")) == "echo:again"
        assert await bridge.on_message(Question(text="xy"), _context()) == Reply(text="yx")
    finally:
        await late_worker.close()
        await new_bridge.close()
        await memory.close()
        await bridge.close()
        await processor.stop()
        await runtime.close()
        registry.stop()
