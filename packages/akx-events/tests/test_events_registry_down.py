"""Schema Registry down: what was cached keeps working, anything new fails typed and bounded.

Each test runs a development registry of its own (own ``_schemas`` topic on the session
broker) so that it can stop it without touching the session registry.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest

from akx_dev import (
    EMBEDDED_CONSUMER_SETTINGS,
    EMBEDDED_PRODUCER_SETTINGS,
    DevSchemaRegistry,
    KafkaStack,
)
from akx_events import (
    AgentRef,
    DataclassSerde,
    EventSerde,
    RequestEvent,
    SchemaRegistryConfig,
    SchemaRegistryError,
    create_registry_client,
)
from akx_events._registry import DEFAULT_REGISTRY_TIMEOUT

#: confluent-kafka's client retries a refused connection 3 times with full-jitter
#: backoff of at most 1, 2 and 4 s: a call fails within ~7 s plus the attempts.
REFUSED_BOUND = 9.0
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@dataclass
class Reading:
    sensor: str
    value: float


@dataclass
class Alarm:
    sensor: str
    level: int


def _newer_reading() -> type:
    @dataclass
    class Reading:  # the next version of the module-level Reading: one more field
        sensor: str
        value: float
        unit: str = "C"

    return Reading


def _registry(kafka_stack: KafkaStack, topic: str, port: int | None = None) -> DevSchemaRegistry:
    settings = kafka_stack.consumer_settings() or dict(EMBEDDED_CONSUMER_SETTINGS)
    return DevSchemaRegistry(
        kafka_stack.bootstrap_servers,
        port=port,
        topic=topic,
        consumer_settings=settings,
        producer_settings=kafka_stack.producer_settings() or dict(EMBEDDED_PRODUCER_SETTINGS),
    ).start()


@pytest.fixture
def own_registry(
    kafka_stack: KafkaStack, topic_name: Callable[[str], str]
) -> Iterator[DevSchemaRegistry]:
    registry = _registry(kafka_stack, topic_name("schemas"))
    try:
        yield registry
    finally:
        registry.stop()


def _request() -> RequestEvent:
    return RequestEvent(
        time=WHEN,
        message_id="m-1",
        kind="rpc_request",
        payload=b'{"x": 1}',
        type_name="X",
        recipient=AgentRef(type="t", key="k"),
        reply_to="replies",
    )


def test_prepared_serdes_keep_working_with_the_registry_gone(
    own_registry: DevSchemaRegistry,
) -> None:
    config = SchemaRegistryConfig(url=own_registry.url)
    events = EventSerde(config)
    events.prepare_sync()
    readings = DataclassSerde(Reading, config)
    readings.prepare_sync()
    own_registry.stop()
    # Encode and decode are pure CPU work after prepare: no round trip, no error.
    started = time.monotonic()
    value, headers = events.encode(_request(), topic="requests")
    assert events.decode(value, headers) == _request()
    encoded = readings.encode(Reading("s1", 1.5))
    assert readings.decode(encoded) == Reading("s1", 1.5)
    assert time.monotonic() - started < 2.0
    events.close()
    readings.close()


def test_new_schema_with_the_registry_gone_fails_typed_naming_the_url(
    own_registry: DevSchemaRegistry,
) -> None:
    url = own_registry.url
    config = SchemaRegistryConfig(url=url)
    own_registry.stop()
    alarms = DataclassSerde(Alarm, config)
    started = time.monotonic()
    with pytest.raises(SchemaRegistryError) as raised:
        alarms.prepare_sync()
    elapsed = time.monotonic() - started
    assert elapsed < REFUSED_BOUND, elapsed
    assert url in str(raised.value)
    assert "unreachable" in str(raised.value)
    assert raised.value.retriable
    alarms.close()


async def test_unknown_writer_schema_fails_retriable_then_decodes_once_the_registry_is_back(
    kafka_stack: KafkaStack, topic_name: Callable[[str], str]
) -> None:
    topic = topic_name("schemas")
    registry = _registry(kafka_stack, topic)
    port, url = registry.port, registry.url
    config = SchemaRegistryConfig(url=url)
    reader = DataclassSerde(Reading, config)
    await reader.prepare()

    # A newer writer registers a second version the reader has not seen.
    newer_reading = _newer_reading()
    newer = DataclassSerde(
        newer_reading, config, subject=reader.subject, namespace=reader.schema["namespace"]
    )
    await newer.prepare()
    value = newer.encode(newer_reading("s2", 2.5, "K"))
    assert newer.schema_id != reader.schema_id
    registry.stop()
    try:
        with pytest.raises(SchemaRegistryError) as raised:
            await reader.decode_async(value)
        assert raised.value.retriable and url in str(raised.value)
        # The failure is not remembered as "no such schema": once the registry is back
        # (same port, state rebuilt from its topic), the record decodes.
        registry = _registry(kafka_stack, topic, port=port)
        assert await reader.decode_async(value) == Reading("s2", 2.5)
    finally:
        registry.stop()
        reader.close()
        newer.close()


@contextlib.contextmanager
def _silent_server() -> Iterator[str]:
    """A server that accepts TCP connections (kernel backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_hung_registry_fails_within_the_http_timeout() -> None:
    with _silent_server() as url:
        config = SchemaRegistryConfig(
            url=url, extra={"timeout": 0.5, "max.retries": 1, "retries.wait.ms": 10}
        )
        serde = DataclassSerde(Alarm, config)
        started = time.monotonic()
        with pytest.raises(SchemaRegistryError) as raised:
            serde.prepare_sync()
        elapsed = time.monotonic() - started
        serde.close()
    # Two attempts of 0.5 s each, and a short backoff.
    assert 0.9 < elapsed < 6.0, elapsed
    assert url in str(raised.value) and raised.value.retriable
    assert "Timeout" in str(raised.value)


def test_registry_clients_get_a_default_http_timeout() -> None:
    # confluent-kafka's default is no timeout at all: a hung registry would block forever.
    client = create_registry_client(SchemaRegistryConfig(url="http://127.0.0.1:1"))
    assert client.config()["timeout"] == DEFAULT_REGISTRY_TIMEOUT
    client.close()
    tuned = create_registry_client(
        SchemaRegistryConfig(url="http://127.0.0.1:1", extra={"timeout": 30})
    )
    assert tuned.config()["timeout"] == 30
    tuned.close()
