"""The Kafka side of a memory session: topics, clients, writes and the start-up replay.

Each session lives on one partition of the memory topic (crc32 of the session id
modulo the partition count), so its changes have one order that every reader sees,
and a reader fetches only that partition. Record keys are ``<session>/<memory id>``
(``<session>/`` for the clear marker), which makes the topic safe to compact.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from datetime import datetime, timezone
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from akx_events import (
    AsyncConsumer,
    AsyncProducer,
    EventSerde,
    MemoryEvent,
    TopicSpec,
    ensure_topics,
)

from ._codec import FORM_HEADER, EncodedContent
from ._config import KafkaMemoryConfig
from ._dead_letters import DeadLetters
from ._reader import SessionReader
from ._state import Change
from ._telemetry import MemoryTelemetry
from .exceptions import MemoryStateError, ReplayTimeoutError

__all__ = ["MemoryChangelog", "partition_for"]

_COMPACT = {"cleanup.policy": "compact"}
# Large fetches make the start-up replay fast; they cost nothing while following.
_CONSUMER_DEFAULTS = {"fetch.max.bytes": 52428800, "max.partition.fetch.bytes": 10485760}
_BATCH = 2000


def partition_for(session_id: str, partitions: int) -> int:
    """The partition of the memory topic that holds ``session_id``."""
    return zlib.crc32(session_id.encode("utf-8", "surrogatepass")) % partitions


def _locate(client_config: dict[str, Any], topic: str, session_id: str) -> tuple[int, int]:
    # Blocking; run in a thread. A short-lived consumer tells how many partitions the
    # topic has and the low watermark of the session's partition: a replay of a
    # partition whose records all expired must not wait for offsets that are gone.
    consumer = Consumer(client_config)
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partition = partition_for(session_id, len(metadata.topics[topic].partitions))
        low, _high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        return partition, low
    finally:
        consumer.close()


class MemoryChangelog:
    """Writes a session's changes to the memory topic and follows it into a session state.

    Args:
        config: the memory configuration.
        session_id: the session.
        source: this instance's writer id (``MemoryEvent.source``).
        telemetry: where spans and metrics go; the global providers by default.

    Raises:
        MemoryStateError: the Kafka configuration has no Schema Registry.
    """

    def __init__(
        self,
        config: KafkaMemoryConfig,
        session_id: str,
        source: str,
        telemetry: MemoryTelemetry | None = None,
    ) -> None:
        registry = config.kafka_config.schema_registry_config
        if registry is None:
            raise MemoryStateError(
                "kafka_config.schema_registry_config is required: memory records are Avro"
            )
        self._config = config
        self._kafka = config.kafka_config
        self._topic = config.memory_topic
        self._session_id = session_id
        self._prefix = f"{session_id}/".encode("utf-8", "surrogatepass")
        self._source = source
        self._serde = EventSerde(registry, source=source)
        self._producer = AsyncProducer(
            self._kafka.producer_config(), name=f"akx-memory-producer-{source}"
        )
        self._telemetry = telemetry or MemoryTelemetry(self._topic)
        self._dead_letters = DeadLetters(
            self._producer, self._topic, config.dlq_topic, source, self._telemetry
        )
        self.reader = SessionReader(session_id, self._serde, self._dead_letters, source)
        self.reader.lag.on_sample = self._telemetry.lag_sample
        self._consumer: AsyncConsumer | None = None
        self._partition = 0

    @property
    def partition(self) -> int:
        """The partition of the memory topic that holds this session."""
        return self._partition

    @property
    def dead_letter_count(self) -> int:
        """How many unreadable records this instance copied to the dead-letter topic."""
        return self._dead_letters.count

    async def start(self) -> None:
        """Create the topics if needed, connect, and replay the session's records.

        Raises:
            ReplayTimeoutError: the replay did not finish within ``start_timeout``.
            KafkaTransportError: the broker or Schema Registry failed.
        """
        deadline = time.monotonic() + self._config.start_timeout
        # First: an idempotent producer needs a producer id from the broker before its
        # first write (~0.5 s); let that happen while the topic is replayed.
        await self._producer.start()
        await ensure_topics(self._kafka.client_config(), self._topics(), timeout=10.0)
        consumer_config = self._consumer_config()
        self._partition, low = await asyncio.to_thread(
            _locate, consumer_config, self._topic, self._session_id
        )
        await self._serde.prepare()
        self._consumer = AsyncConsumer(
            consumer_config,
            self.reader.on_batch,
            assignment=[TopicPartition(self._topic, self._partition, OFFSET_BEGINNING)],
            batch_size=_BATCH,
            name=f"akx-memory-consumer-{self._source}",
        )
        await self._consumer.start()
        high = self._consumer.start_watermarks[(self._topic, self._partition)]
        self.reader.replay_until(self._partition, low, high)
        if self.reader.replayed.is_set():
            return
        try:
            remaining = max(0.0, deadline - time.monotonic())
            await asyncio.wait_for(self.reader.replayed.wait(), remaining)
        except asyncio.TimeoutError:
            raise ReplayTimeoutError(
                f"replay of {self._topic}[{self._partition}] reached offset "
                f"{self.reader.state.position} of {high} in {self._config.start_timeout:g} s"
            ) from None

    def _topics(self) -> list[TopicSpec]:
        return [
            TopicSpec(
                name=self._topic,
                partitions=self._config.partitions,
                replication_factor=self._kafka.replication_factor,
                config=_COMPACT,
            ),
            TopicSpec(
                name=self._config.dlq_topic,
                partitions=1,
                replication_factor=self._kafka.replication_factor,
            ),
        ]

    def _consumer_config(self) -> dict[str, Any]:
        config = self._kafka.consumer_config(f"{self._kafka.group_id}.memory")
        for key, value in _CONSUMER_DEFAULTS.items():
            if key not in self._kafka.consumer_extra:
                config[key] = value
        # The partition is assigned, read from the beginning and never committed.
        config.update({"enable.auto.commit": False, "auto.offset.reset": "earliest"})
        return config

    async def write(self, change: Change, encoded: EncodedContent | None) -> None:
        """Produce ``change``, wait for the broker's acknowledgement and show it locally."""
        event = MemoryEvent(
            session_id=self._session_id,
            action=change.action,
            memory_id=change.memory_id,
            content=encoded.data if encoded else b"",
            mime_type=encoded.mime_type if encoded else "text/plain",
            metadata_json=encoded.metadata_json if encoded else None,
            source=self._source,
            time=datetime.now(timezone.utc),
        )
        key = self._prefix + (change.memory_id or "").encode("utf-8", "surrogatepass")
        with self._telemetry.write(change.action, change.memory_id):
            extra = [(FORM_HEADER, encoded.form)] if encoded else []
            extra += self._telemetry.trace_headers()
            value, headers = self._serde.encode(event, topic=self._topic, extra_headers=extra)
            message = await self._producer.send(
                self._topic, value, key=key, headers=headers, partition=self._partition
            )
        offset = message.offset()
        assert offset is not None
        self.reader.state.acknowledged(offset, change)

    async def stop(self) -> None:
        """Stop following, deliver what was produced, release clients. Idempotent."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()
        await self.reader.stop()
        await self._dead_letters.drain()
        await self._producer.stop()
        self._serde.close()
