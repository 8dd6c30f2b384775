"""Dead letters of the request topics: poison records copied to ``<topic>.dlq``.

A record no worker can handle (undecodable, not a request, a payload nobody can
deserialize, an agent that cannot be created) would otherwise fail on every worker
it moves to. It is copied, with its key, value and headers, to ``<topic>.dlq`` with
headers naming the error and its source; the caller then commits its offset like a
handled one, so the partition keeps flowing. ``akx dlq list|replay`` reads them back.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from confluent_kafka import Message

from akx_events._admin import TopicSpec, ensure_topics
from akx_events._constants import (
    DLQ_ERROR_MESSAGE_HEADER,
    DLQ_ERROR_TYPE_HEADER,
    DLQ_SOURCE_OFFSET_HEADER,
    DLQ_SOURCE_PARTITION_HEADER,
    DLQ_SOURCE_TOPIC_HEADER,
    DLQ_TOPIC_SUFFIX,
)
from akx_events._producer import AsyncProducer
from akx_events._telemetry import error_type, log_fields

__all__ = ["DeadLetterWriter", "dead_letter_topic"]

logger = logging.getLogger("autogen_kafka_extension.runtimes.kafka_agent_runtime")

#: Error messages are cut to this many bytes: a header is no place for a novel.
_MAX_MESSAGE_BYTES = 4000


def dead_letter_topic(topic: str) -> str:
    """The dead-letter topic of ``topic``."""
    return topic + DLQ_TOPIC_SUFFIX


class DeadLetterWriter:
    """Copies poison records to their topic's dead-letter topic, created on first use.

    Args:
        producer: a started producer.
        client_config: librdkafka settings for the admin client that creates topics.
        partitions: partitions of a new dead-letter topic.
        replication_factor: replication factor of a new dead-letter topic.
        timeout: seconds to wait for the broker when creating a topic.
    """

    def __init__(
        self,
        producer: AsyncProducer,
        client_config: dict[str, Any],
        *,
        partitions: int,
        replication_factor: int,
        timeout: float,
    ) -> None:
        self._producer = producer
        self._client_config = client_config
        self._partitions = partitions
        self._replication_factor = replication_factor
        self._timeout = timeout
        # One creation per topic, shared by the poison records that arrive meanwhile.
        self._created: dict[str, asyncio.Task[None]] = {}

    async def send(self, message: Message, error: BaseException) -> asyncio.Future[Message]:
        """Copy ``message`` to its dead-letter topic; return the copy's delivery future.

        Raises:
            BrokerUnavailableError: the dead-letter topic could not be created.
        """
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        target = dead_letter_topic(cast(str, topic))
        logger.error(
            "request record %s[%s]@%s cannot be handled; copied to %s: %s: %s",
            topic,
            partition,
            offset,
            target,
            type(error).__name__,
            error,
            extra=log_fields(message, error_type=error_type(error)),
        )
        await self._ensure(target)
        original = cast("list[tuple[str, bytes | None]]", message.headers() or [])
        headers: list[tuple[str, bytes | None]] = [
            *original,
            (DLQ_ERROR_TYPE_HEADER, type(error).__name__.encode()),
            (DLQ_ERROR_MESSAGE_HEADER, str(error).encode("utf-8", "replace")[:_MAX_MESSAGE_BYTES]),
            (DLQ_SOURCE_TOPIC_HEADER, cast(str, topic).encode()),
            (DLQ_SOURCE_PARTITION_HEADER, str(partition).encode()),
            (DLQ_SOURCE_OFFSET_HEADER, str(offset).encode()),
        ]
        return self._producer.produce(target, message.value(), key=message.key(), headers=headers)

    async def _ensure(self, topic: str) -> None:
        task = self._created.get(topic)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            spec = TopicSpec(
                name=topic,
                partitions=self._partitions,
                replication_factor=self._replication_factor,
            )
            task = asyncio.ensure_future(
                ensure_topics(self._client_config, [spec], timeout=self._timeout)
            )
            self._created[topic] = task
        await asyncio.shield(task)
