"""The reply side of a bridge: read the response topic and complete the waiting requests.

Every bridge instance reads *every* partition of the response topic with
``assign()`` (no consumer group), starting at the end offsets it finds when it starts.
Each instance therefore sees all replies and keeps the ones whose correlation id it
made; the others are skipped after reading one header. Why not a group or a reply
partition per instance: see "Correlation design" in the package README.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from confluent_kafka import OFFSET_END, Message, TopicPartition

from akx_events import AsyncConsumer, AsyncProducer, DataclassSerde, EventDecodeError
from akx_events._telemetry import log_fields
from akx_events.exceptions import UnknownSchemaError

from ._contract import (
    AVRO_CONTENT_TYPE,
    CONTENT_TYPE_HEADER,
    ERROR_MESSAGE_HEADER,
    ERROR_TYPE_HEADER,
    dead_letter_headers,
    header_text,
    qualified_type_name,
    raw_correlation_id,
)
from ._pending import PendingReplies
from ._telemetry import BridgeTelemetry
from .exceptions import MalformedReplyError, RemoteHandlerError

__all__ = ["ReplyReader"]

logger = logging.getLogger("autogen_kafka_extension.agent.kafka_streaming_agent")


class ReplyReader:
    """Completes :class:`PendingReplies` from the records of the response topic.

    Args:
        consumer_config: librdkafka settings (a ``group.id`` is required by
            librdkafka even though no group is joined and nothing is committed).
        topic: the response topic.
        partitions: how many partitions it has.
        pending: the requests in flight.
        serde: decodes reply values.
        producer: writes dead letters.
        dead_letter_topic: where unreadable replies are copied.
        telemetry: counts dead letters (the global meter provider's by default).
    """

    def __init__(
        self,
        consumer_config: dict[str, Any],
        *,
        topic: str,
        partitions: int,
        pending: PendingReplies,
        serde: DataclassSerde[Any],
        producer: AsyncProducer,
        dead_letter_topic: str,
        telemetry: BridgeTelemetry | None = None,
    ) -> None:
        self._pending = pending
        self._telemetry = telemetry or BridgeTelemetry()
        self._serde = serde
        self._producer = producer
        self._dead_letter_topic = dead_letter_topic
        self._decoding: set[asyncio.Task[None]] = set()
        self._consumer = AsyncConsumer(
            consumer_config,
            self._on_batch,
            assignment=[TopicPartition(topic, p, OFFSET_END) for p in range(partitions)],
            name=f"akx-bridge-replies-{pending.instance_id}",
        )

    async def start(self) -> None:
        """Assign every partition at its current end; replies written later are seen."""
        await self._consumer.start()

    async def stop(self) -> None:
        """Stop reading. Idempotent."""
        await self._consumer.stop()
        for task in list(self._decoding):
            task.cancel()

    def _on_batch(self, messages: list[Message]) -> None:
        for message in messages:
            try:
                self._on_record(message)
            except Exception:  # one bad record must not stop the reader
                logger.exception("cannot handle reply at offset %s", message.offset())

    def _on_record(self, message: Message) -> None:
        pending = self._pending
        headers = message.headers()
        raw_id = raw_correlation_id(message, headers)
        if raw_id is None:
            # Nobody can claim it, so every instance reading the topic copies it:
            # the source topic/partition/offset headers let the DLQ reader dedupe.
            self._dead_letter(message, "MissingCorrelationId", "reply has no correlation id")
            return
        if not pending.owns(raw_id):
            # Another instance's reply: the common case when many share the topic,
            # so it costs one header scan and a prefix comparison, nothing more.
            pending.counts["foreign_replies"] += 1
            return
        correlation_id = raw_id.decode("utf-8", "replace")
        if pending.waiting(correlation_id) is None:
            return
        error_type = header_text(headers, ERROR_TYPE_HEADER)
        if error_type is not None:
            pending.counts["replies"] += 1
            pending.counts["remote_errors"] += 1
            error_message = header_text(headers, ERROR_MESSAGE_HEADER) or ""
            pending.fail(
                correlation_id, RemoteHandlerError(correlation_id, error_type, error_message)
            )
            return
        content_type = header_text(headers, CONTENT_TYPE_HEADER)
        if content_type is not None and content_type != AVRO_CONTENT_TYPE:
            self._malformed(message, correlation_id, f"content-type {content_type!r} is not Avro")
            return
        try:
            reply = self._serde.decode(message.value())
        except UnknownSchemaError:
            task = asyncio.get_running_loop().create_task(
                self._decode_later(message, correlation_id)
            )
            self._decoding.add(task)
            task.add_done_callback(self._decoding.discard)
            return
        except EventDecodeError as exc:
            self._malformed(message, correlation_id, str(exc), exc)
            return
        pending.settle(correlation_id, reply)

    async def _decode_later(self, message: Message, correlation_id: str) -> None:
        # A schema id first seen now (the handler wrote with a newer version): fetch it
        # once, off the loop, then decode as usual.
        try:
            reply = await self._serde.decode_async(message.value())
        except EventDecodeError as exc:
            self._malformed(message, correlation_id, str(exc), exc)
            return
        except Exception as exc:  # registry unreachable: not the record's fault
            self._pending.fail(correlation_id, exc)
            return
        self._pending.settle(correlation_id, reply)

    def _malformed(
        self, message: Message, correlation_id: str, reason: str, error: Exception | None = None
    ) -> None:
        self._pending.counts["replies"] += 1
        error_type = qualified_type_name(error) if error is not None else "MalformedReply"
        self._dead_letter(message, error_type, reason)
        self._pending.fail(
            correlation_id, MalformedReplyError(correlation_id, self._dead_letter_topic, reason)
        )

    def _dead_letter(self, message: Message, error_type: str, reason: str) -> None:
        self._pending.counts["malformed_replies"] += 1
        self._telemetry.dead_lettered(message.topic() or "", error_type)
        logger.warning(
            "dead-lettering reply %s/%s@%s to %s: %s",
            message.topic(),
            message.partition(),
            message.offset(),
            self._dead_letter_topic,
            reason,
            extra=log_fields(message, error_type=error_type),
        )
        key = message.key()
        try:
            delivery = self._producer.produce(
                self._dead_letter_topic,
                message.value(),
                key=key.encode() if isinstance(key, str) else key,
                headers=dead_letter_headers(message, error_type, reason),
            )
        except Exception:
            logger.exception("cannot dead-letter reply at offset %s", message.offset())
            return
        delivery.add_done_callback(self._dead_lettered)

    def _dead_lettered(self, delivery: asyncio.Future[Message]) -> None:
        if delivery.cancelled():
            return
        error = delivery.exception()
        if error is not None:
            logger.error("dead letter not delivered: %s", error)
        else:
            self._pending.counts["dead_lettered"] += 1
