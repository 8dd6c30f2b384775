"""An external service written with plain confluent-kafka (no akx code) answers the bridge.

The service follows only the contract in the package README: read ``correlation-id``
and ``reply-to``, decode the Avro value with the registry, write the reply with the
same correlation id (header and key), Avro-encoded with its own copy of the schema.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autogen_core import AgentId, SingleThreadedAgentRuntime
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from akx_bridge import KafkaAgentConfig, KafkaMessageType, KafkaStreamingAgent
from akx_dev import KafkaStack


@dataclass
class Question(KafkaMessageType):
    avro_namespace = "akx.tests.bridge"
    text: str
    language: str | None = None


@dataclass
class Reply(KafkaMessageType):
    avro_namespace = "akx.tests.bridge"
    text: str
    length: int


# The service's own copy of the reply schema, as an external team would keep it.
REPLY_SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "Reply",
        "namespace": "akx.tests.bridge",
        "fields": [{"name": "text", "type": "string"}, {"name": "length", "type": "long"}],
    }
)


def run_plain_service(
    stack: KafkaStack, request_topic: str, stop: threading.Event, seen: list[dict[str, Any]]
) -> None:
    """Consume requests and answer them, with confluent-kafka and its Avro serdes only."""
    registry = SchemaRegistryClient({"url": stack.schema_registry_url})
    # Their __init__ is assigned indirectly, which hides its parameters from pyright.
    decode = AvroDeserializer(registry)  # pyright: ignore[reportCallIssue]
    encode = AvroSerializer(registry, REPLY_SCHEMA, conf={"auto.register.schemas": True})  # pyright: ignore[reportCallIssue]
    consumer = Consumer(
        {
            "bootstrap.servers": stack.bootstrap_servers,
            "group.id": f"plain-service-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            **stack.consumer_settings(),
        }
    )
    producer = Producer({"bootstrap.servers": stack.bootstrap_servers, **stack.producer_settings()})
    consumer.subscribe([request_topic])
    try:
        while not stop.is_set():
            message = consumer.poll(0.05)
            if message is None or message.error() is not None:
                continue
            headers = {k: v for k, v in message.headers() or []}
            request = decode(
                message.value(), SerializationContext(request_topic, MessageField.VALUE)
            )
            assert isinstance(request, dict)
            seen.append({"key": message.key(), "headers": headers, "value": message.value()})
            reply_topic = headers["reply-to"].decode()  # type: ignore[union-attr]
            correlation_id = headers["correlation-id"]
            text = str(request["text"])
            reply = {"text": text[::-1], "length": len(text)}
            producer.produce(
                reply_topic,
                encode(reply, SerializationContext(reply_topic, MessageField.VALUE)),
                key=correlation_id,
                headers=[("correlation-id", correlation_id), ("content-type", b"application/avro")],
            )
            producer.flush(10)
    finally:
        consumer.close()


async def test_a_plain_confluent_kafka_service_answers_the_bridge(
    agent_config: Callable[..., KafkaAgentConfig], kafka_stack: KafkaStack
) -> None:
    config = agent_config()
    agent = KafkaStreamingAgent(config, "plain", Question, Reply)
    await agent.start()  # creates the topics and registers the schemas
    stop = threading.Event()
    seen: list[dict[str, Any]] = []
    service = threading.Thread(
        target=run_plain_service, args=(kafka_stack, config.request_topic, stop, seen), daemon=True
    )
    service.start()
    runtime = SingleThreadedAgentRuntime()
    await runtime.register_agent_instance(agent, AgentId("plain", "default"))
    runtime.start()
    try:
        first = await runtime.send_message(
            Question(text="hello", language="en"), AgentId("plain", "default")
        )
        second = await runtime.send_message(Question(text="kafka"), AgentId("plain", "default"))
    finally:
        await runtime.stop()
        await runtime.close()
        stop.set()
        service.join(10)
    assert first == Reply(text="olleh", length=5)
    assert second == Reply(text="akfak", length=5)
    # The request records are what the README says they are.
    record = seen[0]
    headers: dict[str, bytes] = record["headers"]
    assert headers["correlation-id"] == record["key"]
    assert record["key"].startswith(f"{agent.instance_id}.".encode())
    assert headers["reply-to"] == config.response_topic.encode()
    assert headers["content-type"] == b"application/avro"
    assert headers["ce_type"] == b"akx.tests.bridge.Question"
    assert headers["ce_id"] == headers["correlation-id"]
    assert headers["ce_specversion"] == b"1.0"
    assert record["value"][0] == 0  # Confluent wire format: magic byte, then schema id
    assert agent.stats.replies == 2
