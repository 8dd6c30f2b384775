"""Round trip through a real broker and Schema Registry (the akx-dev ``kafka_stack``)."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from akx_events import (
    AgentRef,
    AgentStateEvent,
    DataclassSerde,
    ErrorInfo,
    EventSerde,
    MemoryEvent,
    RegistrationEvent,
    RequestEvent,
    ResponseEvent,
    SchemaIncompatibleError,
    SchemaRegistryConfig,
    SubscriptionEvent,
)

WHEN = datetime(2025, 7, 8, 9, 10, 11, 121314, tzinfo=timezone.utc)
TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
EVENTS = [
    RequestEvent(
        message_id=str(uuid.uuid4()),
        kind="rpc_request",
        payload=b'{"content": "hello"}',
        type_name="TextMessage",
        recipient=AgentRef(type="assistant", key="default"),
        sender=AgentRef(type="user", key="u"),
        reply_to="akx.responses.w1",
        time=WHEN,
        metadata={"k": "v"},
    ),
    ResponseEvent(
        message_id="m",
        sender=AgentRef(type="assistant", key="default"),
        error=ErrorInfo(exception_type="builtins.ValueError", message="no"),
        time=WHEN,
    ),
    RegistrationEvent(agent_type="assistant", worker_id="w1", action="register", time=WHEN),
    SubscriptionEvent(
        subscription_id="s",
        kind="type_prefix",
        topic_type="news.",
        agent_type="assistant",
        worker_id="w1",
        action="add",
        time=WHEN,
    ),
    MemoryEvent(session_id="s", action="clear", source="w1", time=WHEN),
    AgentStateEvent(agent=AgentRef(type="a", key="k"), state=b"{}", version=2, time=WHEN),
]


def create_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, num_partitions=1)]).values():
        future.result(timeout=10)


def consume(stack: Any, topic: str, count: int, timeout: float = 20.0) -> list[Message]:
    consumer = Consumer(
        {
            "bootstrap.servers": stack.bootstrap_servers,
            "group.id": f"it-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            **stack.consumer_settings(),
        }
    )
    try:
        consumer.list_topics(topic, timeout=10)  # avoids a slow first fetch on assign
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        messages: list[Message] = []
        deadline = time.monotonic() + timeout
        while len(messages) < count and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None:
                continue
            assert message.error() is None, message.error()
            messages.append(message)
        return messages
    finally:
        consumer.close()


@pytest.mark.slow
def test_events_round_trip_through_broker_and_registry(
    kafka_stack: Any, topic_name: Callable[[str], str]
) -> None:
    topic = topic_name("events")
    create_topic(kafka_stack.bootstrap_servers, topic)
    writer = EventSerde(
        SchemaRegistryConfig(url=kafka_stack.schema_registry_url), source="akx://it"
    )
    writer.prepare_sync()
    producer = Producer(
        {"bootstrap.servers": kafka_stack.bootstrap_servers, **kafka_stack.producer_settings()}
    )
    sent: list[list[tuple[str, bytes]]] = []
    for event in EVENTS:
        value, headers = writer.encode(
            event, topic=topic, extra_headers=[("traceparent", TRACEPARENT)]
        )
        producer.produce(topic, value=value, key=b"k", headers=list[Any](headers))
        sent.append(headers)
    assert producer.flush(10) == 0

    messages = consume(kafka_stack, topic, len(EVENTS))

    # A reader that registered nothing itself: schema ids resolve through the registry.
    reader = EventSerde(
        SchemaRegistryConfig(url=kafka_stack.schema_registry_url, auto_register_schemas=False)
    )
    reader.prepare_sync()
    decoded = [reader.decode_record(m.value(), m.headers()) for m in messages]
    assert [d.event for d in decoded] == EVENTS
    assert [m.headers() for m in messages] == sent
    assert all(d.traceparent == TRACEPARENT.decode() for d in decoded)
    writer.close()
    reader.close()


@pytest.mark.slow
def test_confluents_own_deserializer_reads_the_values(
    kafka_stack: Any, topic_name: Callable[[str], str]
) -> None:
    """Another client needs the registry alone: no akx code to read an akx value."""
    serde = EventSerde(SchemaRegistryConfig(url=kafka_stack.schema_registry_url))
    serde.prepare_sync()
    value, _ = serde.encode(EVENTS[0], topic="any")
    client = SchemaRegistryClient({"url": kafka_stack.schema_registry_url})
    deserializer = AvroDeserializer(client)  # pyright: ignore[reportCallIssue]

    record = deserializer(value, SerializationContext(topic_name("x"), MessageField.VALUE))

    assert record["message_id"] == EVENTS[0].message_id  # pyright: ignore[reportIndexIssue, reportOptionalSubscript]
    assert record["recipient"] == {"type": "assistant", "key": "default"}  # pyright: ignore[reportIndexIssue, reportOptionalSubscript]
    assert record["time"] == WHEN  # pyright: ignore[reportIndexIssue, reportOptionalSubscript]
    serde.close()


@dataclasses.dataclass
class Reading:
    value: float


# The next version of Reading, with a field without default: old records could not be read.
ReadingV2 = dataclasses.make_dataclass("Reading", [("value", float), ("unit", str)])


def test_the_registry_refuses_an_incompatible_version(kafka_stack: Any) -> None:
    config = SchemaRegistryConfig(url=kafka_stack.schema_registry_url)
    subject = f"it-readings-{uuid.uuid4().hex}"
    first = DataclassSerde(Reading, config, subject, namespace="it")
    first.prepare_sync()
    second = DataclassSerde(ReadingV2, config, subject, namespace="it")

    with pytest.raises(SchemaIncompatibleError, match=subject):
        second.prepare_sync()
    first.close()
    second.close()
