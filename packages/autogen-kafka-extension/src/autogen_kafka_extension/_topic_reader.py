"""Read a topic for the command line: up to its current end, or following it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from akx_events import BrokerUnavailableError, ConfigurationError

__all__ = ["read_topic"]

_SETTLE = 0.5


def _partitions(consumer: Consumer, topic: str, servers: str, timeout: float) -> list[int]:
    try:
        metadata = consumer.list_topics(topic, timeout=timeout)
    except KafkaException as exc:
        raise BrokerUnavailableError(
            f"no broker of {servers!r} answered within {timeout:g} s: {exc.args[0]}"
        ) from exc
    found = metadata.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        raise ConfigurationError("topic", f"topic {topic!r} does not exist on {servers!r}")
    return sorted(found.partitions)


def read_topic(
    client_config: dict[str, Any],
    topic: str,
    *,
    follow: bool = False,
    from_beginning: bool = True,
    timeout: float = 10.0,
) -> Iterator[Message]:
    """Records of ``topic``, all partitions, oldest first per partition.

    Without ``follow`` the iteration ends at the end offsets taken when it started.

    Raises:
        BrokerUnavailableError: no broker answered within ``timeout`` (naming the servers).
        ConfigurationError: the topic does not exist.
    """
    servers = str(client_config.get("bootstrap.servers", "?"))
    consumer = Consumer(
        {
            **client_config,
            "group.id": f"akx-cli-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 50,
            # The command reports an unreachable broker itself, once, in plain words.
            "log_level": 0,
        }
    )
    try:
        partitions = _partitions(consumer, topic, servers, timeout)
        ends: dict[int, int] = {}
        starts: list[TopicPartition] = []
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout
            )
            ends[partition] = high
            start = OFFSET_BEGINNING if from_beginning else high
            starts.append(TopicPartition(topic, partition, start if from_beginning else high))
            del low
        consumer.assign(starts)
        remaining = {p for p, end in ends.items() if end > 0 and from_beginning}
        idle_since = time.monotonic()
        while True:
            message = consumer.poll(0.2)
            if message is None:
                quiet = time.monotonic() - idle_since
                # Past the end offsets, stop once the partitions go quiet: some brokers
                # (the embedded one) report an end offset short of the last batch.
                if not follow and (quiet > timeout or (not remaining and quiet > _SETTLE)):
                    return
                continue
            if message.error() is not None:
                continue
            idle_since = time.monotonic()
            partition, offset = message.partition(), message.offset()
            assert partition is not None and offset is not None
            if partition in remaining and offset + 1 >= ends[partition]:
                remaining.discard(partition)
            yield message
    finally:
        consumer.close()
