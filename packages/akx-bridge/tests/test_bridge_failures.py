"""Timeouts, late, malformed, foreign and error replies, and closing with requests in flight."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from autogen_core import CancellationToken, MessageContext
from confluent_kafka import Message

from akx_bridge import (
    CONTENT_TYPE_HEADER,
    CORRELATION_ID_HEADER,
    DLQ_ERROR_MESSAGE_HEADER,
    DLQ_ERROR_TYPE_HEADER,
    DLQ_SOURCE_OFFSET_HEADER,
    DLQ_SOURCE_PARTITION_HEADER,
    DLQ_SOURCE_TOPIC_HEADER,
    ERROR_MESSAGE_HEADER,
    ERROR_TYPE_HEADER,
    REPLY_TO_HEADER,
    BridgeClosedError,
    BridgeTimeoutError,
    KafkaAgentConfig,
    KafkaMessageType,
    KafkaStreamingAgent,
    MalformedReplyError,
    RemoteHandlerError,
)
from akx_events import DataclassSerde

Out = tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]


@dataclass
class Ping(KafkaMessageType):
    avro_namespace = "akx.tests.bridge"
    text: str


@dataclass
class Pong(KafkaMessageType):
    avro_namespace = "akx.tests.bridge"
    text: str


def context() -> MessageContext:
    return MessageContext(
        sender=None,
        topic_id=None,
        is_rpc=True,
        cancellation_token=CancellationToken(),
        message_id="m",
    )


def header(message: Message, name: str) -> bytes | None:
    return next((v for k, v in message.headers() or [] if k == name), None)  # type: ignore[misc]


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def started_agent(config: KafkaAgentConfig) -> tuple[KafkaStreamingAgent[Ping, Pong], Any]:
    agent = KafkaStreamingAgent(config, "ping", Ping, Pong)
    await agent.start()
    registry = config.kafka_config.schema_registry_config
    assert registry is not None
    serde = DataclassSerde(
        Pong, registry, f"{config.response_topic}-value", namespace="akx.tests.bridge"
    )
    await serde.prepare()
    return agent, serde


def key_of(message: Message) -> bytes:
    key = message.key()
    assert isinstance(key, bytes)
    return key


def reply_to(message: Message) -> str:
    found = header(message, REPLY_TO_HEADER)
    assert found is not None
    return found.decode()


async def test_no_reply_times_out_with_a_typed_error(
    agent_config: Callable[..., KafkaAgentConfig],
) -> None:
    agent = KafkaStreamingAgent(agent_config(request_timeout=0.4), "ping", Ping, Pong)
    await agent.start()
    try:
        began = time.monotonic()
        with pytest.raises(BridgeTimeoutError) as caught:
            await agent.on_message(Ping(text="anyone?"), context())
        elapsed = time.monotonic() - began
    finally:
        await agent.close()
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.timeout == 0.4
    assert 0.38 <= elapsed < 5.0  # the timeout, not a hang (generous: a busy machine)
    assert agent.stats.timeouts == 1


async def test_a_reply_after_the_timeout_is_counted_as_late(
    agent_config: Callable[..., KafkaAgentConfig], responder: Callable[..., Any]
) -> None:
    config = agent_config(request_timeout=0.5)
    agent, serde = await started_agent(config)

    def answer_late(batch: list[Message]) -> list[Out]:
        time.sleep(1.0)  # longer than the request timeout
        message = batch[0]
        key = key_of(message)
        return [
            (
                reply_to(message),
                key,
                serde.encode(Pong(text="late")),
                [(CORRELATION_ID_HEADER, key)],
            )
        ]

    responder(config.request_topic, answer_late)
    try:
        with pytest.raises(BridgeTimeoutError):
            await agent.on_message(Ping(text="slow"), context())
        await eventually(lambda: agent.late_replies == 1)
    finally:
        await agent.close()
        serde.close()
    assert agent.stats.replies == 0


async def test_malformed_reply_fails_the_caller_and_is_dead_lettered(
    agent_config: Callable[..., KafkaAgentConfig],
    responder: Callable[..., Any],
    topic_reader: Callable[..., list[Message]],
) -> None:
    config = agent_config()
    agent, serde = await started_agent(config)

    def answer_badly(batch: list[Message]) -> list[Out]:
        message = batch[0]
        key = key_of(message)
        text = (message.value() or b"")[-3:]
        if text == b"bad":
            return [
                (reply_to(message), key, b"\x00\x00\x00garbage", [(CORRELATION_ID_HEADER, key)])
            ]
        headers = [(CORRELATION_ID_HEADER, key), (CONTENT_TYPE_HEADER, b"application/json")]
        return [(reply_to(message), key, b'{"text": "json"}', headers)]

    responder(config.request_topic, answer_badly)
    try:
        with pytest.raises(MalformedReplyError, match="dlq") as not_avro:
            await agent.on_message(Ping(text="bad"), context())
        with pytest.raises(MalformedReplyError, match="application/json"):
            await agent.on_message(Ping(text="json"), context())
        await eventually(lambda: agent.stats.dead_lettered == 2)
    finally:
        await agent.close()
        serde.close()
    assert not_avro.value.dead_letter_topic == f"{config.response_topic}.dlq"
    dead = await asyncio.to_thread(topic_reader, config.reply_dead_letter_topic, 2)
    assert sorted(m.value() or b"" for m in dead) == [b"\x00\x00\x00garbage", b'{"text": "json"}']
    for message in dead:
        assert header(message, DLQ_SOURCE_TOPIC_HEADER) == config.response_topic.encode()
        assert header(message, DLQ_SOURCE_PARTITION_HEADER) is not None
        assert int(header(message, DLQ_SOURCE_OFFSET_HEADER) or b"-1") >= 0
        assert header(message, DLQ_ERROR_MESSAGE_HEADER)
        assert header(message, CORRELATION_ID_HEADER) == message.key()  # original headers kept
    types = sorted(header(m, DLQ_ERROR_TYPE_HEADER) or b"" for m in dead)
    # The garbage names schema id 0x00006761, which the registry does not know.
    assert types == [b"MalformedReply", b"akx_events.exceptions.UnknownSchemaError"]
    assert (agent.stats.malformed_replies, agent.stats.replies) == (2, 2)


async def test_error_replies_foreign_replies_and_replies_without_id(
    agent_config: Callable[..., KafkaAgentConfig],
    responder: Callable[..., Any],
    topic_reader: Callable[..., list[Message]],
) -> None:
    config = agent_config()
    agent, serde = await started_agent(config)

    def answer(batch: list[Message]) -> list[Out]:
        message = batch[0]
        key = key_of(message)
        topic = reply_to(message)
        good = serde.encode(Pong(text="ok"))
        return [
            # Another bridge instance's reply, an unclaimable one, then the error reply.
            (topic, b"other-instance.1", good, [(CORRELATION_ID_HEADER, b"other-instance.1")]),
            (topic, None, good, []),
            (
                topic,
                key,
                b"",
                [
                    (CORRELATION_ID_HEADER, key),
                    (ERROR_TYPE_HEADER, b"java.lang.IllegalStateException"),
                    (ERROR_MESSAGE_HEADER, b"model not loaded"),
                ],
            ),
        ]

    responder(config.request_topic, answer)
    try:
        with pytest.raises(RemoteHandlerError, match="model not loaded") as caught:
            await agent.on_message(Ping(text="x"), context())
        await eventually(lambda: agent.stats.dead_lettered == 1)
    finally:
        await agent.close()
        serde.close()
    assert caught.value.error_type == "java.lang.IllegalStateException"
    stats = agent.stats
    assert (stats.foreign_replies, stats.remote_errors, stats.late_replies) == (1, 1, 0)
    dead = await asyncio.to_thread(topic_reader, config.reply_dead_letter_topic, 1)
    assert header(dead[0], DLQ_ERROR_TYPE_HEADER) == b"MissingCorrelationId"


async def test_a_reply_correlated_by_key_only_is_accepted(
    agent_config: Callable[..., KafkaAgentConfig], responder: Callable[..., Any]
) -> None:
    config = agent_config()
    agent, serde = await started_agent(config)

    def answer(batch: list[Message]) -> list[Out]:
        message = batch[0]
        return [(reply_to(message), message.key(), serde.encode(Pong(text="by key")), [])]

    responder(config.request_topic, answer)
    try:
        assert await agent.on_message(Ping(text="x"), context()) == Pong(text="by key")
    finally:
        await agent.close()
        serde.close()


async def test_close_fails_requests_in_flight_and_cancellation_is_honoured(
    agent_config: Callable[..., KafkaAgentConfig],
) -> None:
    agent = KafkaStreamingAgent(agent_config(), "ping", Ping, Pong)
    await agent.start()
    token = CancellationToken()
    cancelled = asyncio.ensure_future(
        agent.on_message(
            Ping(text="cancel me"),
            MessageContext(
                sender=None, topic_id=None, is_rpc=True, cancellation_token=token, message_id="c"
            ),
        )
    )
    waiting = asyncio.ensure_future(agent.on_message(Ping(text="wait"), context()))
    await asyncio.sleep(0.2)
    token.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    await agent.close()
    with pytest.raises(BridgeClosedError):
        await waiting
    await agent.close()  # idempotent
    with pytest.raises(BridgeClosedError):
        await agent.on_message(Ping(text="after close"), context())
    assert agent.stats.requests == 2
