"""Copies of unreadable memory records, on a dead-letter topic."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from confluent_kafka import Message

from akx_events import AsyncProducer
from akx_events._telemetry import error_type

from ._telemetry import MemoryTelemetry

__all__ = ["DeadLetters"]

logger = logging.getLogger("autogen_kafka_extension.memory.kafka_memory")

#: Headers added to a dead-lettered record, after the original record's headers; the
#: names every akx dead-letter topic uses (``akx dlq list|replay`` reads them).
HEADER_ERROR_TYPE = "dlq-error-type"
HEADER_ERROR_MESSAGE = "dlq-error-message"
HEADER_TOPIC = "dlq-source-topic"
HEADER_PARTITION = "dlq-source-partition"
HEADER_OFFSET = "dlq-source-offset"
HEADER_READER = "dlq-reader"


class DeadLetters:
    """Sends records that cannot be applied to a dead-letter topic, without waiting.

    The copy keeps the original key, value and headers and adds headers naming the
    error and where the record came from. Every instance that reads the bad record
    copies it (each replay too), so a dead-letter topic may hold several copies of
    one record; ``dlq-source-topic``/``-partition``/``-offset`` identify it.

    Args:
        producer: a started producer.
        source_topic: the memory topic the records come from.
        topic: the dead-letter topic.
        reader: who found the record (the memory instance's source id).
        telemetry: counts dead letters.
    """

    def __init__(
        self,
        producer: AsyncProducer,
        source_topic: str,
        topic: str,
        reader: str,
        telemetry: MemoryTelemetry | None = None,
    ) -> None:
        self._producer = producer
        self._telemetry = telemetry
        self._source_topic = source_topic
        self._topic = topic
        self._reader = reader
        self._in_flight: set[asyncio.Future[Message]] = set()
        self.count = 0

    def send(
        self,
        record: tuple[int, int, bytes | None],
        value: bytes | None,
        headers: Sequence[tuple[str, str | bytes | None]] | None,
        error: BaseException,
    ) -> None:
        """Log ``error`` as a warning and copy the record to the dead-letter topic.

        Args:
            record: partition, offset and key of the unreadable record.
            value: its value.
            headers: its headers.
            error: why it cannot be read.
        """
        partition, offset, key = record
        self.count += 1
        if self._telemetry is not None:
            self._telemetry.dead_lettered(error_type(error))
        where = f"{self._source_topic}[{partition}]@{offset}"
        logger.warning(
            "skipping unreadable memory record %s (copied to %s): %s: %s",
            where,
            self._topic,
            type(error).__name__,
            error,
            extra={"topic": self._source_topic, "partition": partition, "offset": offset},
        )
        copied = [(name, _as_bytes(header)) for name, header in headers or []]
        copied += [
            (HEADER_ERROR_TYPE, type(error).__name__.encode()),
            (HEADER_ERROR_MESSAGE, str(error).encode("utf-8", "replace")[:4000]),
            (HEADER_TOPIC, self._source_topic.encode()),
            (HEADER_PARTITION, str(partition).encode()),
            (HEADER_OFFSET, str(offset).encode()),
            (HEADER_READER, self._reader.encode()),
        ]
        try:
            future = self._producer.produce(self._topic, value, key=key, headers=copied)
        except Exception:
            logger.exception("cannot copy memory record %s to %s", where, self._topic)
            return
        self._in_flight.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[Message]) -> None:
        self._in_flight.discard(future)
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            logger.error("copy to dead-letter topic %s failed: %s", self._topic, error)

    async def drain(self) -> None:
        """Wait until every copy sent so far was acknowledged or failed."""
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)


def _as_bytes(value: str | bytes | None) -> bytes | None:
    if isinstance(value, str):
        return value.encode()
    return value
