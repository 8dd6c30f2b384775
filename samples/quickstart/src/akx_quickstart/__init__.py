"""Zero-setup demo: start the embedded Kafka stack and do a produce/consume round trip.

Run it with ``uv run akx-quickstart``. With ``AKX_BOOTSTRAP_SERVERS`` set, it uses that
cluster instead of starting the embedded broker.
"""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from akx_dev import KafkaStack, open_stack


def round_trip(stack: KafkaStack, count: int = 5) -> list[str]:
    """Produce ``count`` messages to a fresh topic and read them back in order."""
    topic = f"akx-quickstart-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": stack.bootstrap_servers})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(10)
    producer = Producer({"bootstrap.servers": stack.bootstrap_servers, **stack.producer_settings()})
    for n in range(count):
        producer.produce(topic, key=str(n).encode(), value=f"hello #{n}".encode())
    producer.flush(10)
    consumer = Consumer(
        {
            "bootstrap.servers": stack.bootstrap_servers,
            "group.id": topic,
            "auto.offset.reset": "earliest",
            **stack.consumer_settings(),
        }
    )
    consumer.subscribe([topic])
    received: list[str] = []
    deadline = time.monotonic() + 30
    try:
        while len(received) < count and time.monotonic() < deadline:
            message = consumer.poll(0.1)
            if message is not None and message.error() is None:
                received.append((message.value() or b"").decode())
    finally:
        consumer.close()
    return received


def main() -> None:
    """Run the demo and print what came back."""
    started = time.monotonic()
    with open_stack(allow_containers=False) as stack:
        print(
            f"Kafka at {stack.bootstrap_servers} ({stack.kind}), "
            f"Schema Registry at {stack.schema_registry_url}"
        )
        received = round_trip(stack)
        for line in received:
            print(f"  consumed: {line}")
        print(f"Round trip of {len(received)} messages done in {time.monotonic() - started:.2f} s")
