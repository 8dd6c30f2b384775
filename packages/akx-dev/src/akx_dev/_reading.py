"""Read a topic back from its beginning, as a test checking what was written does."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

__all__ = ["read_records"]


def read_records(
    settings: Mapping[str, Any], topic: str, count: int, timeout: float = 20.0
) -> list[Message]:
    """The first ``count`` records of every partition of ``topic`` (fewer after ``timeout``).

    Reads without joining a group (no join delay, no committed offsets): ``settings``
    are librdkafka consumer settings, e.g. ``KafkaConfig.consumer_config()``; their
    ``group.id`` is replaced by a fresh one. Blocking: call it through
    ``asyncio.to_thread`` from async code.
    """
    reader = Consumer({**settings, "group.id": f"akx-read-back-{uuid.uuid4().hex}"})
    try:
        partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
        reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        records: list[Message] = []
        deadline = time.monotonic() + timeout
        while len(records) < count and time.monotonic() < deadline:
            batch = reader.consume(count - len(records), timeout=0.5)
            records += [m for m in batch if m.error() is None]
        return records
    finally:
        reader.close()
