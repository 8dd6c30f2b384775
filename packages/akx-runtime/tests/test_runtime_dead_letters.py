"""Poison records on a request topic go to ``<topic>.dlq`` and the partition keeps flowing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from autogen_core import AgentId, MessageContext, RoutedAgent, message_handler
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from akx_dev import KafkaStack
from akx_events import AgentRef, EventSerde, RegistrationEvent, RequestEvent
from akx_runtime import KafkaAgentRuntime, KafkaAgentRuntimeConfig, PoisonMessageError
from autogen_kafka_extension._cli import main as akx_main

ConfigFactory = Callable[..., KafkaAgentRuntimeConfig]


@dataclass
class Ping:
    text: str


class Echo(RoutedAgent):
    def __init__(self) -> None:
        super().__init__("echo")

    @message_handler
    async def on_ping(self, message: Ping, ctx: MessageContext) -> str:
        return f"pong {message.text}"


def _read_all(stack: KafkaStack, topic: str, expected: int, timeout: float = 15.0) -> list[Any]:
    consumer = Consumer(
        {
            "bootstrap.servers": stack.bootstrap_servers,
            "group.id": f"dlq-check-{topic}",
            **stack.consumer_settings(),
        }
    )
    # Assigned, not subscribed: no group join to wait for. The runtime's test topics
    # have two partitions, and so do their dead-letter topics.
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in (0, 1)])
    found: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None or message.error() is not None:
                continue
            found.append(message)
    finally:
        consumer.close()
    return found


async def test_poison_requests_go_to_the_dead_letter_topic(
    kafka_stack: KafkaStack,
    runtime_config: ConfigFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = runtime_config()
    runtime = KafkaAgentRuntime(config)
    await Echo.register(runtime, "echo", Echo)
    caller = KafkaAgentRuntime(runtime_config())
    await runtime.start()
    await caller.start()
    try:
        request_topic = f"{config.request_topic}.echo"
        dlq_topic = f"{request_topic}.dlq"
        registry = config.kafka_config.schema_registry_config
        assert registry is not None
        serde = EventSerde(registry, source="akx/test")
        await serde.prepare()
        wrong_type, wrong_headers = serde.encode(
            RegistrationEvent(agent_type="echo", worker_id="w", action="register"),
            topic=request_topic,
        )
        # An RPC whose payload type nobody here knows: the caller must hear about it.
        unknown_id = "unknown-payload-1"
        unknown, unknown_headers = serde.encode(
            RequestEvent(
                message_id=unknown_id,
                kind="rpc_request",
                payload=b'{"x": 1}',
                type_name="nowhere.Mystery",
                data_content_type="application/json",
                recipient=AgentRef(type="echo", key="k"),
                sender=None,
                reply_to=caller._reply_topic,  # pyright: ignore[reportPrivateUsage]
            ),
            topic=request_topic,
        )
        reply = caller._inbox.expect(unknown_id)  # pyright: ignore[reportPrivateUsage,reportOptionalMemberAccess]
        producer = Producer(
            {"bootstrap.servers": kafka_stack.bootstrap_servers, **kafka_stack.producer_settings()}
        )
        poison = [
            (b"junk that is no event", None),
            (wrong_type, wrong_headers),
            (unknown, unknown_headers),
        ]
        letters: list[Any] = []
        for count, (value, headers) in enumerate(poison, start=1):
            # One key: one partition, so the good request below queues behind them. One
            # at a time: the embedded broker reports the high watermark of a multi-record
            # batch as base + 1, which would end `akx dlq list` early.
            producer.produce(request_topic, value, key=b"k", headers=headers)
            assert producer.flush(10) == 0
            letters = await asyncio.to_thread(_read_all, kafka_stack, dlq_topic, count)
            assert len(letters) == count

        with pytest.raises(PoisonMessageError, match=r"nowhere\.Mystery.*copied to .*\.dlq"):
            await asyncio.wait_for(reply, 10)
        answer = await caller.send_message(Ping("after"), AgentId("echo", "k"))
        assert answer == "pong after"
        by_value = {m.value(): m for m in letters}  # type: ignore[attr-defined]
        for value, headers in poison:
            letter = by_value[value]
            found = dict(letter.headers())
            assert found["dlq-source-topic"] == request_topic.encode()
            assert found["dlq-source-partition"].isdigit()
            assert found["dlq-source-offset"].isdigit()
            assert found["dlq-error-message"]
            assert letter.key() == b"k"
            for name, original in headers or []:
                assert found[name] == original
        # EventDecodeError or its subclass UnknownSchemaError, as the junk happens to read.
        assert dict(by_value[poison[0][0]].headers())["dlq-error-type"] in {
            b"EventDecodeError",
            b"UnknownSchemaError",
        }
        assert dict(by_value[wrong_type].headers())["dlq-error-type"] == b"PoisonMessageError"
        assert dict(by_value[unknown].headers())["dlq-error-type"] == b"PoisonMessageError"

        capsys.readouterr()
        status = await asyncio.to_thread(
            akx_main,
            [
                "dlq",
                "list",
                dlq_topic,
                "--json",
                "--bootstrap-servers",
                kafka_stack.bootstrap_servers,
                "--schema-registry-url",
                kafka_stack.schema_registry_url,
            ],
        )
        assert status == 0
        captured = capsys.readouterr()
        rows = [json.loads(line) for line in captured.out.splitlines()]
        assert len(rows) == 3, captured
        assert sorted(r["dlq-error-type"] for r in rows)[1:] == [
            "PoisonMessageError",
            "PoisonMessageError",
        ]
        assert len(rows) == 3
        assert {r["dlq-source-topic"] for r in rows} == {request_topic}
    finally:
        await caller.close()
        await runtime.close()


class FactoryFailure(Exception):
    """Raised by a factory that cannot build its agent on this worker."""


def _broken_factory() -> Echo:
    raise FactoryFailure("no model credentials on this worker")


async def test_an_agent_that_cannot_be_created_dead_letters_its_requests(
    kafka_stack: KafkaStack, runtime_config: ConfigFactory
) -> None:
    config = runtime_config()
    runtime = KafkaAgentRuntime(config)
    await runtime.register_factory("broken", _broken_factory)
    caller = KafkaAgentRuntime(runtime_config())
    await runtime.start()
    await caller.start()
    try:
        # The caller hears the factory's error at once (its type is importable here).
        with pytest.raises(FactoryFailure, match=r"no model credentials.*copied to"):
            await caller.send_message(Ping("x"), AgentId("broken", "k"))
        dlq_topic = f"{config.request_topic}.broken.dlq"
        [letter] = await asyncio.to_thread(_read_all, kafka_stack, dlq_topic, 1)
        headers = dict(letter.headers())
        assert headers["dlq-error-type"] == b"FactoryFailure"
        assert headers["dlq-source-topic"] == f"{config.request_topic}.broken".encode()
    finally:
        await caller.close()
        await runtime.close()
