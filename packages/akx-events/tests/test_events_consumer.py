"""AsyncConsumer: holding and releasing fetching loses, repeats and reorders nothing."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Message, TopicPartition

from akx_dev import KafkaStack
from akx_events import ConfigurationError
from akx_events._admin import TopicSpec, ensure_topics
from akx_events._consumer import AsyncConsumer, _restart_fetching  # pyright: ignore[reportPrivateUsage]
from akx_events._producer import AsyncProducer

PARTITIONS = 2
RECORDS = 300


class _Positions:
    """Stands in for a librdkafka consumer: positions known, seeks recorded."""

    def __init__(self, positions: list[TopicPartition]) -> None:
        self._positions = positions
        self.seeks: list[tuple[str, int, int]] = []

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return self._positions

    def seek(self, partition: TopicPartition) -> None:
        self.seeks.append((partition.topic, partition.partition, partition.offset))


def test_resumed_partitions_are_sought_to_where_the_application_is() -> None:
    # Offset -1001 is librdkafka's "no position yet" (nothing returned from it).
    fake = _Positions([TopicPartition("t", 0, 17), TopicPartition("t", 1, -1001)])
    _restart_fetching(fake, [TopicPartition("t", 0), TopicPartition("t", 1)])  # type: ignore[arg-type]
    assert fake.seeks == [("t", 0, 17)]


async def test_settings_librdkafka_refuses_are_a_configuration_error_at_start() -> None:
    consumer = AsyncConsumer(
        {
            "bootstrap.servers": "127.0.0.1:1",
            "group.id": "g",
            "sasl.jaas.config": "org.Example required;",
        },
        lambda _messages: None,
        topics=["t"],
        name="refused",
    )
    with pytest.raises(ConfigurationError, match=r"consumer settings.*(sasl\.jaas\.config|JAAS)"):
        await consumer.start()


async def _hold_release_cycles(
    kafka_stack: KafkaStack, topic: str, **where: Any
) -> dict[int, list[int]]:
    """Produce RECORDS while the consumer is held after every batch it hands over."""
    # A new group starts at the beginning: nothing produced after joining is skipped.
    kafka = kafka_stack.kafka_config("consumer-test", auto_offset_reset="earliest")
    seen: dict[int, list[int]] = collections.defaultdict(list)
    holds = 0
    consumer: AsyncConsumer | None = None

    def on_batch(messages: list[Message]) -> None:
        nonlocal holds
        for message in messages:
            partition, offset = message.partition(), message.offset()
            assert partition is not None and offset is not None
            seen[partition].append(offset)
        assert consumer is not None
        consumer.hold()
        holds += 1
        # Release a moment later, as an owner does when it has caught up.
        asyncio.get_running_loop().call_later(0.02, consumer.release)

    assigned = asyncio.Event()

    async def on_assign(partitions: list[TopicPartition]) -> None:
        assigned.set()

    if "assignment" in where:
        assigned.set()
    else:
        where["on_assign"] = on_assign
    consumer = AsyncConsumer(kafka.consumer_config(), on_batch, name="hold-test", **where)
    producer = AsyncProducer(kafka.producer_config(), name="hold-test")
    await producer.start()
    await consumer.start()
    try:
        await asyncio.wait_for(assigned.wait(), 30)
        for n in range(RECORDS):
            await producer.produce(topic, f"r{n}".encode(), partition=n % PARTITIONS)
            if n % 25 == 0:
                await asyncio.sleep(0.03)  # let some holds happen mid-stream

        async def all_read() -> None:
            while sum(len(offsets) for offsets in seen.values()) < RECORDS:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(all_read(), 30)
        await asyncio.sleep(0.3)  # anything read twice would show up by now
    finally:
        await consumer.stop()
        await producer.stop()
    assert holds > 5, "the test did not exercise holding"
    return seen


@pytest.mark.parametrize("member", [False, True], ids=["assigned", "group-member"])
async def test_hold_and_release_read_every_record_once_in_order(
    kafka_stack: KafkaStack, topic_name: Callable[[str], str], member: bool
) -> None:
    topic = topic_name("hold")
    kafka = kafka_stack.kafka_config("consumer-test")
    await ensure_topics(kafka.client_config(), [TopicSpec(name=topic, partitions=PARTITIONS)])
    where: dict[str, Any] = (
        {"topics": [topic]}
        if member
        else {"assignment": [TopicPartition(topic, p, 0) for p in range(PARTITIONS)]}
    )
    seen = await _hold_release_cycles(kafka_stack, topic, **where)
    for partition in range(PARTITIONS):
        assert seen[partition] == list(range(RECORDS // PARTITIONS)), partition
