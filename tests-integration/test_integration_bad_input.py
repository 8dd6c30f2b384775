"""Bad input at the boundaries: a typed error for the bad one, and nothing else lost.

Every test sends a good message right after the bad one and checks that it arrives.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from autogen_core import (
    AgentId,
    BaseAgent,
    CancellationToken,
    MessageContext,
    TopicId,
    TypeSubscription,
)
from autogen_core.memory import MemoryContent, MemoryMimeType
from confluent_kafka import Producer

from akx_bridge import KafkaAgentConfig, KafkaMessageType, KafkaStreamingAgent, RequestProcessor
from akx_dev import KafkaStack
from akx_events import (
    AgentRef,
    EventSerde,
    KafkaConfig,
    PayloadTooLargeError,
    RequestEvent,
)
from akx_memory import KafkaMemory, KafkaMemoryConfig
from akx_runtime import (
    KafkaAgentRuntime,
    KafkaAgentRuntimeConfig,
    RecipientNotFoundError,
)

#: EventSerde's and DataclassSerde's default limit, below Kafka's 1 MB default.
LIMIT = 900_000
TOO_BIG = "x" * 1_200_000


class _Echo(BaseAgent):
    def __init__(self, seen: list[tuple[str, str]]) -> None:
        super().__init__("echo")
        self._seen = seen

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> Any:
        self._seen.append((self.id.key, str(message)[:50]))
        return f"{self.id.key}|{message}"


def _kafka(stack: KafkaStack, name: str) -> KafkaConfig:
    return stack.kafka_config(name, num_partitions=2)


@pytest.fixture
async def echo_runtime(
    kafka_stack: KafkaStack, topic_name: Callable[[str], str]
) -> AsyncIterator[tuple[KafkaAgentRuntime, list[tuple[str, str]]]]:
    seen: list[tuple[str, str]] = []
    config = KafkaAgentRuntimeConfig(
        kafka_config=_kafka(kafka_stack, "bad-input"),
        request_topic=topic_name("req"),
        response_topic=topic_name("resp"),
        registry_topic=topic_name("reg"),
        subscription_topic=topic_name("sub"),
        publish_topic=topic_name("pub"),
        request_timeout=10,
    )
    runtime = KafkaAgentRuntime(config)
    await runtime.register_factory("echo", lambda: _Echo(seen))
    await runtime.add_subscription(TypeSubscription("news", "echo"))
    await runtime.start()
    try:
        yield runtime, seen
    finally:
        await runtime.close()


async def _eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# ----------------------------------------------------------------------- runtime


async def test_oversized_rpc_and_publish_fail_before_producing_and_the_runtime_goes_on(
    echo_runtime: tuple[KafkaAgentRuntime, list[tuple[str, str]]],
) -> None:
    runtime, seen = echo_runtime
    started = time.monotonic()
    with pytest.raises(PayloadTooLargeError) as raised:
        await runtime.send_message(TOO_BIG, AgentId("echo", "k"))
    # Refused locally, at once: nothing was produced, no reply was awaited (10 s).
    assert time.monotonic() - started < 5.0
    assert raised.value.limit == LIMIT and raised.value.size > 1_200_000
    assert f"over the limit of {LIMIT} bytes" in str(raised.value)
    with pytest.raises(PayloadTooLargeError):
        await runtime.publish_message(TOO_BIG, TopicId("news", "s"))
    assert await runtime.send_message("after", AgentId("echo", "k")) == "k|after"
    await runtime.publish_message("published", TopicId("news", "s"))
    await _eventually(lambda: ("s", "published") in seen)
    assert all(len(text) < 50 or not text.startswith("xxxx") for _, text in seen)


ODD_KEYS = [
    "",
    " ",
    "with space",
    "a/b/c",
    "../..",
    "ünïcödé-ключ-鍵-🔑",
    "tab\there\nnewline",
    "quote'\"back\\slash",
    "k" * 10_000,
    "\x00nul",
]


async def test_odd_agent_keys_round_trip_and_keep_their_own_instances(
    echo_runtime: tuple[KafkaAgentRuntime, list[tuple[str, str]]],
) -> None:
    runtime, seen = echo_runtime
    for key in ODD_KEYS:
        reply = await runtime.send_message(f"hi {len(key)}", AgentId("echo", key))
        assert reply == f"{key}|hi {len(key)}"
    # One instance per key, each created once and seeing only its own message.
    assert [k for k, _ in seen] == ODD_KEYS


@pytest.mark.parametrize("agent_type", ["bad type", "a/b", "", "a:b"])
def test_agent_types_autogen_refuses_never_reach_the_runtime(agent_type: str) -> None:
    # AutoGen's AgentId refuses these itself, before any runtime sees them.
    with pytest.raises(ValueError, match="Invalid agent type"):
        AgentId(agent_type, "k")


async def test_unicode_and_long_agent_types_get_topics_of_their_own_and_round_trip(
    echo_runtime: tuple[KafkaAgentRuntime, list[tuple[str, str]]],
) -> None:
    runtime, seen = echo_runtime
    odd_types = ["ünïcödé_тип", "t" * 300]  # accepted by AutoGen, not valid topic segments
    for agent_type in odd_types:
        await runtime.register_factory(agent_type, lambda: _Echo(seen))
    for agent_type in odd_types:
        assert await runtime.send_message("hi", AgentId(agent_type, "k")) == "k|hi"
    started = time.monotonic()
    with pytest.raises(RecipientNotFoundError):
        await runtime.send_message("hi", AgentId("ünïcödé_other", "k"))
    assert time.monotonic() - started < 5.0  # at once, not after the 10 s timeout
    assert await runtime.send_message("after", AgentId("echo", "k")) == "k|after"


def _garbled_records(serde: EventSerde, topic: str) -> list[tuple[str, bytes, list[Any]]]:
    good_value, good_headers = serde.encode(
        RequestEvent(
            message_id="garbled",
            kind="rpc_request",
            payload=b'"x"',
            type_name="str",
            recipient=AgentRef(type="echo", key="k"),
            reply_to=None,
        ),
        topic=topic,
    )

    def without(name: str) -> list[Any]:
        return [(k, v) for k, v in good_headers if k != name]

    def replaced(name: str, value: Any) -> list[Any]:
        return [(k, value if k == name else v) for k, v in good_headers]

    return [
        ("no ce_type", good_value, without("ce_type")),
        ("no ce_specversion", good_value, without("ce_specversion")),
        ("ce_type of another event", good_value, replaced("ce_type", b"io.akx.events.X")),
        ("ce_type not utf-8", good_value, replaced("ce_type", b"\xff\xfe")),
        ("ce_type None", good_value, replaced("ce_type", None)),
        ("no headers at all", good_value, []),
        ("truncated body", good_value[:-3], good_headers),
        ("wrong magic byte", b"\x01" + good_value[1:], good_headers),
        ("empty value", b"", good_headers),
    ]


async def test_garbled_ce_headers_and_bodies_are_dead_lettered_and_the_next_request_runs(
    echo_runtime: tuple[KafkaAgentRuntime, list[tuple[str, str]]], kafka_stack: KafkaStack
) -> None:
    runtime, seen = echo_runtime
    topic = f"{runtime.config.request_topic}.echo"
    registry = runtime.config.kafka_config.schema_registry_config
    assert registry is not None
    serde = EventSerde(registry, source="akx/test")
    await serde.prepare()
    producer = Producer(
        {"bootstrap.servers": kafka_stack.bootstrap_servers, **kafka_stack.producer_settings()}
    )
    records = _garbled_records(serde, topic)
    for _, value, headers in records:
        # Key "k": the same partition as the good request below, which queues behind them.
        producer.produce(topic, value, key=b"k", headers=headers)
    assert producer.flush(10) == 0
    serde.close()
    assert await runtime.send_message("after", AgentId("echo", "k")) == "k|after"
    # None of the garbled records reached the agent (it saw only the good request).
    assert seen == [("k", "after")]
    dead = await asyncio.to_thread(_count_records, kafka_stack, f"{topic}.dlq", len(records))
    assert dead == len(records)


def _count_records(stack: KafkaStack, topic: str, expected: int) -> int:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": stack.bootstrap_servers,
            "group.id": "bad-input-reader",
            "enable.auto.commit": False,
            **stack.consumer_settings(),
        }
    )
    try:
        count, deadline = 0, time.monotonic() + 20
        assigned = False
        while count < expected and time.monotonic() < deadline:
            if not assigned:
                # The dead-letter topic is created with its first record: wait for it.
                found = consumer.list_topics(topic, timeout=5).topics.get(topic)
                if found is None or found.error is not None or not found.partitions:
                    time.sleep(0.1)
                    continue
                consumer.assign(
                    [TopicPartition(topic, p, OFFSET_BEGINNING) for p in found.partitions]
                )
                assigned = True
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                count += 1
        return count
    finally:
        consumer.close()


# ------------------------------------------------------------------------ bridge


def _context() -> MessageContext:
    return MessageContext(
        sender=None,
        topic_id=None,
        is_rpc=True,
        cancellation_token=CancellationToken(),
        message_id="m",
    )


@dataclass
class Shout(KafkaMessageType):
    avro_namespace = "akx.tests.badinput"
    text: str


@dataclass
class Echoed(KafkaMessageType):
    avro_namespace = "akx.tests.badinput"
    text: str


async def test_oversized_bridge_request_fails_before_producing_and_the_bridge_goes_on(
    kafka_stack: KafkaStack, topic_name: Callable[[str], str]
) -> None:
    config = KafkaAgentConfig(
        kafka_config=_kafka(kafka_stack, "bad-input-bridge"),
        request_topic=topic_name("shout-req"),
        response_topic=topic_name("shout-resp"),
        request_timeout=10,
    )
    answered: list[str] = []

    async def handle(request: Shout) -> Echoed:
        answered.append(request.text[:10])
        return Echoed(text=request.text.upper())

    processor = RequestProcessor(config, handle, request_type=Shout, response_type=Echoed)
    await processor.start()
    agent = KafkaStreamingAgent(config, "shout", Shout, Echoed)
    try:
        await agent.start()
        started = time.monotonic()
        with pytest.raises(PayloadTooLargeError) as raised:
            await agent.on_message(Shout(text=TOO_BIG), _context())
        assert time.monotonic() - started < 5.0  # refused locally, not the 10 s timeout
        assert raised.value.limit == LIMIT and "Shout value" in str(raised.value)
        assert (await agent.on_message(Shout(text="after"), _context())) == Echoed(text="AFTER")
        assert answered == ["after"]
        assert agent.stats.requests == 1  # the refused one never counted as sent
    finally:
        await agent.close()
        await processor.stop()


# ------------------------------------------------------------------------ memory


async def test_oversized_memory_entry_is_refused_and_nothing_is_stored(
    kafka_stack: KafkaStack, topic_name: Callable[[str], str]
) -> None:
    config = KafkaMemoryConfig(
        kafka_config=_kafka(kafka_stack, "bad-input-memory"),
        memory_topic=topic_name("mem"),
        start_timeout=20,
    )
    async with KafkaMemory(config, "s") as memory:
        with pytest.raises(PayloadTooLargeError) as raised:
            await memory.add(MemoryContent(content=TOO_BIG, mime_type=MemoryMimeType.TEXT))
        assert raised.value.limit == LIMIT
        await memory.add(MemoryContent(content="after", mime_type=MemoryMimeType.TEXT))
        assert [c.content for c in memory.entries().values()] == ["after"]
