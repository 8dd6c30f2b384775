"""Broker faults: a runtime that cannot reach Kafka says so quickly and cleanly."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from autogen_core import AgentId, BaseAgent, MessageContext, TopicId, TypeSubscription

from akx_events import (
    BrokerUnavailableError,
    KafkaConfig,
    PayloadTooLargeError,
    SchemaRegistryConfig,
)
from akx_runtime import KafkaAgentRuntime, KafkaAgentRuntimeConfig, RemoteHandlerError


def _closed_port() -> int:
    # A port that was free a moment ago: nothing listens there.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_unreachable_broker_fails_start_quickly_naming_servers() -> None:
    servers = f"127.0.0.1:{_closed_port()}"
    kafka = KafkaConfig(
        name="unreachable",
        group_id="unreachable",
        client_id="unreachable",
        bootstrap_servers=servers,
        schema_registry_config=SchemaRegistryConfig(url=f"http://127.0.0.1:{_closed_port()}"),
    )
    before = set(threading.enumerate())
    runtime = KafkaAgentRuntime(KafkaAgentRuntimeConfig(kafka_config=kafka, start_timeout=2))
    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError) as raised:
        await runtime.start()
    elapsed = time.monotonic() - started
    assert elapsed < 10, elapsed
    assert servers in str(raised.value)
    await runtime.close()
    # librdkafka threads end once their clients are destroyed; give them a moment. The
    # event loop's own executor threads (asyncio.to_thread) belong to the loop, not to us.
    deadline = time.monotonic() + 5
    while (left := _runtime_threads(before)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not left, left


def _runtime_threads(before: set[threading.Thread]) -> set[threading.Thread]:
    return {t for t in set(threading.enumerate()) - before if not t.name.startswith("asyncio_")}


class _Big(BaseAgent):
    def __init__(self) -> None:
        super().__init__("answers too much")

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> Any:
        return "x" * message if isinstance(message, int) else message


async def test_an_oversized_reply_reaches_its_caller_as_an_error_at_once(
    runtime_config: Callable[..., KafkaAgentRuntimeConfig],
) -> None:
    async with KafkaAgentRuntime(runtime_config()) as runtime:
        await _Big.register(runtime, "big", _Big)
        # The type's group join first, so the clock below times the error alone.
        assert await runtime.send_message("small", AgentId("big", "k")) == "small"
        started = time.monotonic()
        # The remote error keeps its type name; its class takes other arguments than a
        # message, so it arrives as RemoteHandlerError.
        with pytest.raises(RemoteHandlerError, match=r"PayloadTooLargeError.*over the limit"):
            await runtime.send_message(1_200_000, AgentId("big", "k"))
        assert time.monotonic() - started < 5  # not the 10 s request timeout
        assert await runtime.send_message("small", AgentId("big", "k")) == "small"


def test_the_producer_gives_up_on_a_record_after_the_request_timeout(
    runtime_config: Callable[..., KafkaAgentRuntimeConfig],
) -> None:
    runtime = KafkaAgentRuntime(runtime_config(request_timeout=12))
    assert runtime._producer_config()["message.timeout.ms"] == 12_000  # pyright: ignore[reportPrivateUsage]
    kafka = runtime_config().kafka_config.with_overrides(
        producer_extra={"message.timeout.ms": 60_000}
    )
    chosen = KafkaAgentRuntime(runtime_config(kafka_config=kafka))
    assert chosen._producer_config()["message.timeout.ms"] == 60_000  # pyright: ignore[reportPrivateUsage]


async def test_an_oversized_publication_fails_typed_and_leaves_nothing_to_wait_for(
    runtime_config: Callable[..., KafkaAgentRuntimeConfig],
) -> None:
    async with KafkaAgentRuntime(runtime_config()) as runtime:
        await _Big.register(runtime, "big", _Big)
        await runtime.add_subscription(TypeSubscription("news", "big"))
        with pytest.raises(PayloadTooLargeError):
            await runtime.publish_message("x" * 1_200_000, TopicId("news", "k"))
        await asyncio.sleep(0)  # the inbox forgets a cancelled expectation in a callback
        inbox = runtime._inbox  # pyright: ignore[reportPrivateUsage]
        assert inbox is not None and len(inbox) == 0  # no acknowledgement left expected
        started = time.monotonic()
        await runtime.stop_when_idle()
        assert time.monotonic() - started < 5  # not the 10 s request timeout
