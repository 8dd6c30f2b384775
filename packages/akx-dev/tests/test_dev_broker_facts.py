"""Facts about the embedded broker that akx designs around.

If a future Tansu changes one of these, the test fails and the design notes in
the akx-dev README must be revisited. These run against the embedded broker
only: they describe Tansu, not Kafka.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

from akx_dev import (
    EMBEDDED_CONSUMER_SETTINGS,
    EMBEDDED_PRODUCER_SETTINGS,
    EmbeddedBroker,
    read_records,
)


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as running:
        yield running


def _topic(
    broker: EmbeddedBroker, partitions: int = 1, config: dict[str, str] | None = None
) -> str:
    name = f"fact-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    futures = admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])
    futures[name].result(10)
    return name


def _produce(broker: EmbeddedBroker, topic: str, records: list[dict[str, object]]) -> None:
    producer = Producer(
        {"bootstrap.servers": broker.bootstrap_servers, **EMBEDDED_PRODUCER_SETTINGS}
    )
    for record in records:
        producer.produce(topic, **record)  # type: ignore[arg-type]
    assert producer.flush(10) == 0


def _consumer(broker: EmbeddedBroker, **extra: object) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"g-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            **EMBEDDED_CONSUMER_SETTINGS,
            **extra,
        }
    )


def _read_all(consumer: Consumer, expected: int, timeout: float = 10.0) -> list[Message]:
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(messages) < expected and time.monotonic() < deadline:
        message = consumer.poll(0.1)
        if message is not None and message.error() is None:
            messages.append(message)
    # Give a dropped-or-late record a moment to show up before we conclude.
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        message = consumer.poll(0.05)
        if message is not None and message.error() is None:
            messages.append(message)
    return messages


def test_null_and_empty_values_reach_consumers(broker: EmbeddedBroker) -> None:
    # The shared notes say Tansu drops null values. It does not: that observation
    # came from testing ``if message:``, and a Message with a None or empty value
    # is falsy (``Message.__len__`` is the value's length). Always test ``is None``.
    topic = _topic(broker, config={"cleanup.policy": "compact"})
    _produce(
        broker,
        topic,
        [
            {"key": b"k", "value": b"first"},
            {"key": b"k", "value": None},
            {"key": b"k", "value": b""},
            {"key": b"k", "value": b"marker"},
        ],
    )
    consumer = _consumer(broker)
    consumer.subscribe([topic])
    try:
        values = [m.value() for m in _read_all(consumer, 4)]
    finally:
        consumer.close()
    assert values == [b"first", None, b"", b"marker"]


def test_compaction_never_runs_so_every_version_replays(broker: EmbeddedBroker) -> None:
    topic = _topic(broker, config={"cleanup.policy": "compact", "segment.ms": "100"})
    _produce(broker, topic, [{"key": b"k", "value": str(i).encode()} for i in range(20)])
    consumer = _consumer(broker)
    consumer.assign([TopicPartition(topic, 0, 0)])
    try:
        assert len(_read_all(consumer, 20)) == 20
    finally:
        consumer.close()


def test_headers_are_kept_exactly(broker: EmbeddedBroker) -> None:
    topic = _topic(broker)
    headers = [("a", b"\x00\xff"), ("empty", None), ("a", b"dup"), ("z", b"")]
    _produce(broker, topic, [{"value": b"v", "headers": headers}])
    consumer = _consumer(broker)
    consumer.subscribe([topic])
    try:
        [message] = _read_all(consumer, 1)
    finally:
        consumer.close()
    assert message.headers() == headers


def test_classic_group_splits_partitions_between_members(broker: EmbeddedBroker) -> None:
    topic = _topic(broker, partitions=4)
    group = f"split-{uuid.uuid4().hex[:8]}"
    members = [_consumer(broker, **{"group.id": group}) for _ in range(2)]
    for member in members:
        member.subscribe([topic])
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for member in members:
                member.poll(0.05)
            owned = [{tp.partition for tp in m.assignment()} for m in members]
            if all(owned) and sum(map(len, owned)) == 4:
                break
        owned = [{tp.partition for tp in m.assignment()} for m in members]
        assert owned[0] | owned[1] == {0, 1, 2, 3}
        assert not owned[0] & owned[1]
        assert owned[0]
        assert owned[1]
    finally:
        for member in members:
            member.close()


def test_create_partitions_is_unsupported(broker: EmbeddedBroker) -> None:
    topic = _topic(broker, partitions=1)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    future = admin.create_partitions([NewPartitions(topic, 3)])[topic]
    with pytest.raises(KafkaException):
        future.result(10)


def test_read_committed_still_shows_aborted_records(broker: EmbeddedBroker) -> None:
    # Exactly-once cannot be proven on this broker: akx relies on idempotent
    # handling (dedup by message id) instead, and tests that.
    topic = _topic(broker)
    producer = Producer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "transactional.id": f"tx-{uuid.uuid4().hex[:8]}",
            **EMBEDDED_PRODUCER_SETTINGS,
        }
    )
    producer.init_transactions(10)
    producer.begin_transaction()
    producer.produce(topic, value=b"aborted")
    producer.flush(10)
    producer.abort_transaction(10)
    producer.begin_transaction()
    producer.produce(topic, value=b"committed")
    producer.commit_transaction(10)
    consumer = _consumer(broker, **{"isolation.level": "read_committed"})
    consumer.subscribe([topic])
    try:
        values = [m.value() for m in _read_all(consumer, 2)]
    finally:
        consumer.close()
    assert values == [b"aborted", b"committed"]


def test_end_offset_after_a_batch_is_its_first_offset_plus_one(broker: EmbeddedBroker) -> None:
    # Kafka reports the offset after the last record; Tansu reports the batch's base
    # offset + 1 until the next produce. Readers that stop at the end offset must keep
    # reading briefly past it (the records are there).
    topic = _topic(broker)
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "linger.ms": 50})
    for n in range(3):
        producer.produce(topic, value=str(n).encode())
    assert producer.flush(10) == 0
    consumer = _consumer(broker)
    try:
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        assert high == 1
        consumer.assign([TopicPartition(topic, 0, 0)])
        assert len(_read_all(consumer, 3)) == 3
    finally:
        consumer.close()


def test_read_records_reads_every_partition_from_the_beginning(broker: EmbeddedBroker) -> None:
    topic = _topic(broker, partitions=2)
    _produce(broker, topic, [{"value": str(n).encode(), "partition": n % 2} for n in range(6)])
    settings = {"bootstrap.servers": broker.bootstrap_servers, **EMBEDDED_CONSUMER_SETTINGS}
    records = read_records(settings, topic, 6)
    assert sorted(int(r.value() or b"") for r in records) == list(range(6))
    assert {r.partition() for r in records} == {0, 1}
    # Fewer than asked for: what there is, once the timeout ran out.
    assert len(read_records(settings, topic, 7, timeout=1.0)) == 6
