"""A transactional producer: replies and consumer offsets committed together.

``akx_events.AsyncProducer`` has no transaction calls and ``confluent_kafka.aio``'s
``AIOProducer`` cannot send headers (which the contract needs), so this wraps
librdkafka's ``Producer`` for exactly one use: one transaction per batch, each run
whole in a worker thread so the event loop never waits on the broker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

from akx_events import KafkaTransportError
from akx_events.exceptions import AkxError

from ._contract import Header

__all__ = ["OutgoingRecord", "TransactionalProducer"]

logger = logging.getLogger("autogen_kafka_extension.agent.kafka_streaming_agent")

_ATTEMPTS = 3
_RETRY_PAUSE = 0.2


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """A record to produce inside a transaction."""

    topic: str
    value: bytes | None
    key: bytes | None
    headers: Sequence[Header | tuple[str, bytes | None]]


class TransactionalProducer:
    """Produces batches of records and commits consumer offsets in the same transaction.

    Args:
        config: librdkafka producer settings including ``transactional.id``.
        timeout: seconds each transactional call may take.
    """

    def __init__(self, config: dict[str, Any], *, timeout: float = 10.0) -> None:
        self._config = dict(config)
        self._timeout = timeout
        self._producer: Producer | None = None

    async def start(self) -> None:
        """Create the producer and register its transactional id (fences older instances)."""
        if self._producer is not None:
            return
        producer = Producer(self._config)
        await asyncio.to_thread(producer.init_transactions, self._timeout)
        self._producer = producer

    async def commit(
        self,
        records: Sequence[OutgoingRecord],
        offsets: list[TopicPartition],
        group_metadata: Any,
    ) -> None:
        """Produce ``records`` and commit ``offsets`` for the group, atomically.

        ``group_metadata`` is the consumer's ``consumer_group_metadata()`` for the
        current generation, which fences processors that lost the partitions.

        Aborted attempts are retried (all records again) up to three times.

        Raises:
            KafkaTransportError: the transaction failed for good, or the producer
                was fenced by a newer instance (``retriable`` False).
        """
        if self._producer is None:
            raise AkxError("the transactional producer is not started")
        await asyncio.to_thread(self._commit_with_retries, records, offsets, group_metadata)

    def _commit_with_retries(
        self,
        records: Sequence[OutgoingRecord],
        offsets: list[TopicPartition],
        group_metadata: Any,
    ) -> None:
        producer = self._producer
        assert producer is not None
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                self._transaction(producer, records, offsets, group_metadata)
                return
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if error.fatal() or attempt == _ATTEMPTS:
                    raise KafkaTransportError(
                        f"transaction failed: {error.str()}", retriable=not error.fatal()
                    ) from exc
                logger.warning("transaction attempt %d failed, retrying: %s", attempt, error.str())
                self._abort(producer)
                time.sleep(_RETRY_PAUSE * attempt)

    def _transaction(
        self,
        producer: Producer,
        records: Sequence[OutgoingRecord],
        offsets: list[TopicPartition],
        metadata: Any,
    ) -> None:
        producer.begin_transaction()
        for record in records:
            while True:
                try:
                    producer.produce(
                        record.topic,
                        value=record.value,
                        key=record.key,
                        headers=list(record.headers),
                    )
                    break
                except BufferError:  # local queue full: let librdkafka send some first
                    producer.poll(0.05)
        if offsets:
            producer.send_offsets_to_transaction(offsets, metadata, self._timeout)
        producer.commit_transaction(self._timeout)

    def _abort(self, producer: Producer) -> None:
        try:
            producer.abort_transaction(self._timeout)
        except KafkaException as exc:
            logger.warning("abort_transaction failed: %s", exc)

    async def stop(self) -> None:
        """Deliver anything still queued and drop the producer. Idempotent."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await asyncio.to_thread(producer.flush, self._timeout)
