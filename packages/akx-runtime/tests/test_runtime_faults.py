"""Broker faults: a runtime that cannot reach Kafka says so quickly and cleanly."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

from akx_events import BrokerUnavailableError, KafkaConfig, SchemaRegistryConfig
from akx_runtime import KafkaAgentRuntime, KafkaAgentRuntimeConfig


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
