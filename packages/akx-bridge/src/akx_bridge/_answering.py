"""Answering one request: decode it, call the handler, build the reply records.

The records are not produced here: the processor commits them, with the consumer
offsets of their batch, in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Generic, TypeVar

from confluent_kafka import Message

from akx_events import DataclassSerde, EventDecodeError, SchemaRegistryConfig, avro_schema_for
from akx_events._telemetry import log_fields
from akx_events.exceptions import UnknownSchemaError

from ._config import RequestProcessorConfig, topic_subject
from ._contract import (
    REPLY_TO_HEADER,
    correlation_id_of,
    dead_letter_headers,
    error_headers,
    header_text,
    qualified_type_name,
    reply_headers,
)
from ._handler import Handler
from ._message_type import namespace_of
from ._telemetry import BridgeTelemetry, ProcessingOutcome
from ._transactions import OutgoingRecord

__all__ = ["RequestAnswerer"]

logger = logging.getLogger("autogen_kafka_extension.agent.kafka_streaming_agent.processor")

Req = TypeVar("Req")
Resp = TypeVar("Resp")


class RequestAnswerer(Generic[Req, Resp]):
    """Turns request records into reply, error-reply and dead-letter records.

    Args:
        config: the processor's configuration.
        handler: the user's async function.
        request_type: the request dataclass.
        response_type: the response dataclass.
        counts: the processor's counters, updated here.
        telemetry: where spans and metrics go.
    """

    def __init__(
        self,
        config: RequestProcessorConfig,
        handler: Handler[Req, Resp],
        request_type: type[Req],
        response_type: type[Resp],
        counts: dict[str, int],
        telemetry: BridgeTelemetry,
    ) -> None:
        registry = config.kafka_config.schema_registry_config
        assert registry is not None  # the config checked it
        self._config = config
        self._handler = handler
        self._response_type = response_type
        self._registry: SchemaRegistryConfig = registry
        self._counts = counts
        self._telemetry = telemetry
        self._group = config.group_id or config.kafka_config.group_id
        self._semaphore = asyncio.Semaphore(config.max_concurrency)
        self.request_serde: DataclassSerde[Req] = DataclassSerde(
            request_type,
            registry,
            topic_subject(config.request_topic),
            namespace=namespace_of(request_type),
        )
        self._reply_serdes: dict[str, DataclassSerde[Resp]] = {}
        self._source = f"akx://processor/{config.kafka_config.name}".encode()
        schema = avro_schema_for(response_type, namespace=namespace_of(response_type))
        self._reply_ce_type = f"{schema['namespace']}.{schema['name']}".encode()

    async def prepare(self) -> None:
        """Register or look up the request schema and the default reply schema."""
        await self.request_serde.prepare()
        await self.reply_serde(self._config.response_topic)

    def close(self) -> None:
        """Close the registry clients."""
        self.request_serde.close()
        for serde in self._reply_serdes.values():
            serde.close()

    async def reply_serde(self, topic: str) -> DataclassSerde[Resp]:
        """The serde of replies to ``topic`` (TopicNameStrategy: one subject per topic)."""
        serde = self._reply_serdes.get(topic)
        if serde is None:
            serde = DataclassSerde(
                self._response_type,
                self._registry,
                topic_subject(topic),
                namespace=namespace_of(self._response_type),
            )
            await serde.prepare()
            self._reply_serdes[topic] = serde
        return serde

    async def answer(self, message: Message) -> list[OutgoingRecord]:
        """The records answering ``message``; never raises for a bad request or handler."""
        self._counts["requests"] += 1
        correlation_id = correlation_id_of(message)
        with self._telemetry.process(message, self._group, correlation_id) as outcome:
            return await self._answer(message, correlation_id, outcome)

    async def _answer(
        self, message: Message, correlation_id: str | None, outcome: ProcessingOutcome
    ) -> list[OutgoingRecord]:
        headers = message.headers()
        reply_topic = header_text(headers, REPLY_TO_HEADER) or self._config.response_topic
        try:
            try:
                request = self.request_serde.decode(message.value())
            except UnknownSchemaError:
                request = await self.request_serde.decode_async(message.value())
        except EventDecodeError as exc:
            outcome.failed("dead_letter", type(exc).__name__)
            out = [self._dead_letter(message, qualified_type_name(exc), str(exc))]
            if correlation_id is not None:
                out.append(self._error_reply(reply_topic, correlation_id, exc, headers))
            return out
        if correlation_id is None:
            outcome.failed("dead_letter", "MissingCorrelationId")
            return [self._dead_letter(message, "MissingCorrelationId", "request has no id")]
        try:
            async with self._semaphore:
                response = await self._handler(request)
            if not isinstance(response, self._response_type):
                raise TypeError(
                    f"handler returned {type(response).__qualname__}, "
                    f"expected {self._response_type.__qualname__}"
                )
            serde = await self.reply_serde(reply_topic)
            value = serde.encode(response, topic=reply_topic)
        except Exception as exc:
            outcome.failed("error", type(exc).__name__, exc)
            logger.warning(
                "handler failed on request %s: %r",
                correlation_id,
                exc,
                extra=log_fields(message, message_id=correlation_id),
            )
            return [self._error_reply(reply_topic, correlation_id, exc, headers)]
        self._counts["replies"] += 1
        key = correlation_id.encode()
        return [
            OutgoingRecord(
                reply_topic,
                value,
                key,
                reply_headers(key, self._reply_ce_type, self._source, headers),
            )
        ]

    def _error_reply(
        self, topic: str, correlation_id: str, error: Exception, headers: Any
    ) -> OutgoingRecord:
        self._counts["handler_errors"] += 1
        key = correlation_id.encode()
        reply = error_headers(key, qualified_type_name(error), str(error), headers)
        return OutgoingRecord(topic, b"", key, reply)

    def _dead_letter(self, message: Message, error_type: str, reason: str) -> OutgoingRecord:
        self._counts["dead_lettered"] += 1
        self._telemetry.dead_lettered(message.topic() or "", error_type)
        logger.warning(
            "dead-lettering request %s/%s@%s: %s",
            message.topic(),
            message.partition(),
            message.offset(),
            reason,
            extra=log_fields(message, error_type=error_type),
        )
        key = message.key()
        return OutgoingRecord(
            self._config.request_dead_letter_topic,
            message.value() if not isinstance(message.value(), str) else None,
            key.encode() if isinstance(key, str) else key,
            dead_letter_headers(message, error_type, reason),
        )
