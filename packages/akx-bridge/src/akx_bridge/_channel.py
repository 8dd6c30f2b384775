"""Request/reply over a pair of Kafka topics, for one bridge instance."""

from __future__ import annotations

import asyncio
import enum
import logging
import warnings
from typing import Any, Generic, TypeVar

from autogen_core import CancellationToken
from confluent_kafka.admin import AdminClient

from akx_events import (
    AsyncProducer,
    BrokerUnavailableError,
    DataclassSerde,
    TopicSpec,
    ensure_topics,
)

from ._config import KafkaAgentConfig, topic_subject
from ._contract import request_headers
from ._message_type import namespace_of
from ._pending import BridgeStats, PendingReplies
from ._reply_reader import ReplyReader
from ._telemetry import BridgeTelemetry, note_delivery
from .exceptions import BridgeClosedError

__all__ = ["RequestChannel"]

logger = logging.getLogger("autogen_kafka_extension.agent.kafka_streaming_agent")

Req = TypeVar("Req")
Resp = TypeVar("Resp")


class _State(enum.Enum):
    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


def _partition_count(client_config: dict[str, Any], topic: str, timeout: float) -> int:
    metadata = AdminClient(client_config).list_topics(topic, timeout=timeout)
    found = metadata.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        reason = found.error if found is not None else "missing"
        raise BrokerUnavailableError(f"topic {topic!r} is not available: {reason}")
    return len(found.partitions)


class RequestChannel(Generic[Req, Resp]):
    """Sends requests of one type and returns the matching replies of another.

    Opened by :meth:`start` (idempotent; concurrent callers wait for one start),
    closed by :meth:`close` (idempotent; waiting requests fail with
    :class:`BridgeClosedError`).

    Args:
        config: topics, timeouts and Kafka settings.
        request_type: the request dataclass.
        response_type: the response dataclass.
        source: ``ce_source`` of the requests (names the sender).
        telemetry: where spans and metrics go; the global providers by default.
    """

    def __init__(
        self,
        config: KafkaAgentConfig,
        request_type: type[Req],
        response_type: type[Resp],
        *,
        source: str,
        telemetry: BridgeTelemetry | None = None,
    ) -> None:
        self._config = config
        self._telemetry = telemetry or BridgeTelemetry()
        registry = config.kafka_config.schema_registry_config
        assert registry is not None  # KafkaAgentConfig checked it
        self._request_serde = DataclassSerde(
            request_type,
            registry,
            topic_subject(config.request_topic),
            namespace=namespace_of(request_type),
        )
        self._response_serde = DataclassSerde(
            response_type,
            registry,
            topic_subject(config.response_topic),
            namespace=namespace_of(response_type),
        )
        schema = self._request_serde.schema
        self._ce_type = f"{schema['namespace']}.{schema['name']}".encode()
        self._source = source.encode()
        self._reply_to = config.response_topic.encode()
        self._pending = PendingReplies()
        self._producer: AsyncProducer | None = None
        self._reader: ReplyReader | None = None
        self._state = _State.NEW
        self._lock = asyncio.Lock()

    @property
    def instance_id(self) -> str:
        """This instance's id: the prefix of its correlation ids."""
        return self._pending.instance_id

    @property
    def started(self) -> bool:
        """Whether the Kafka clients are running."""
        return self._state is _State.OPEN

    def stats(self) -> BridgeStats:
        """A snapshot of this instance's counters."""
        return self._pending.stats()

    async def start(self) -> None:
        """Create missing topics, register the schemas and start the Kafka clients.

        All blocking work runs in threads. If starting fails, what was started is
        stopped again and the next call tries anew.

        Raises:
            BridgeClosedError: :meth:`close` was called.
            BrokerUnavailableError: the broker did not answer within ``start_timeout``.
            SchemaRegistryError: the schemas could not be registered or looked up.
        """
        if self._state is _State.OPEN:
            return
        async with self._lock:
            if self._state is _State.CLOSED:
                raise BridgeClosedError("this Kafka bridge was closed")
            if self.started:  # another caller started it while this one waited
                return
            try:
                await self._open()
            except BaseException:
                await self._shut()
                raise
            self._state = _State.OPEN

    async def _open(self) -> None:
        config, kafka = self._config, self._config.kafka_config
        client_config = kafka.client_config()
        if config.create_topics:
            topics = (config.request_topic, config.response_topic, config.reply_dead_letter_topic)
            specs = [
                TopicSpec(
                    name=name,
                    partitions=kafka.num_partitions,
                    replication_factor=kafka.replication_factor,
                )
                for name in topics
            ]
            await ensure_topics(client_config, specs, timeout=config.start_timeout)
        partitions, _, _ = await asyncio.gather(
            asyncio.to_thread(
                _partition_count, client_config, config.response_topic, config.start_timeout
            ),
            self._request_serde.prepare(),
            self._response_serde.prepare(),
        )
        consumer_config = kafka.consumer_config(
            f"{kafka.group_id}.bridge.{self._pending.instance_id}"
        )
        name = f"akx-bridge-{self._pending.instance_id}"
        self._producer = producer = AsyncProducer(kafka.producer_config(), name=name)
        self._reader = ReplyReader(
            consumer_config,
            topic=config.response_topic,
            partitions=partitions,
            pending=self._pending,
            serde=self._response_serde,
            producer=producer,
            dead_letter_topic=config.reply_dead_letter_topic,
            telemetry=self._telemetry,
        )
        await producer.start()
        # The reader is positioned before the first request leaves, so no reply is missed.
        await self._reader.start()

    async def request(
        self, message: Req, *, cancellation_token: CancellationToken | None = None
    ) -> Resp:
        """Send ``message`` and wait for its reply.

        Raises:
            BridgeTimeoutError: no reply within ``request_timeout``.
            RemoteHandlerError: the handler answered with an error.
            MalformedReplyError: the reply could not be read (it was dead-lettered).
            BridgeClosedError: the channel was closed.
            EventEncodeError: ``message`` does not fit its schema.
            KafkaTransportError: the request could not be delivered.
        """
        if self._state is not _State.OPEN:
            await self.start()
        producer = self._producer
        assert producer is not None
        config = self._config
        value = self._request_serde.encode(message, topic=config.request_topic)
        pending = self._pending
        correlation_id = pending.new_id()
        key = correlation_id.encode()
        with self._telemetry.call(config.request_topic, correlation_id) as span:
            headers = request_headers(key, self._reply_to, self._ce_type, self._source)
            headers.extend(self._telemetry.trace_headers())
            future = pending.expect(correlation_id, config.request_topic, config.request_timeout)
            if cancellation_token is not None:
                cancellation_token.link_future(future)
            try:
                # A full librdkafka queue holds the record in the producer (in order)
                # until there is room; the request deadline still applies.
                delivery = producer.produce(config.request_topic, value, key=key, headers=headers)
                pending.counts["requests"] += 1
                delivery.add_done_callback(lambda d: _on_delivery(d, pending, correlation_id))
                if span is not None:
                    delivery.add_done_callback(lambda d: note_delivery(span, d))
            except BaseException:
                if not future.done():
                    future.cancel()
                elif not future.cancelled():
                    future.exception()  # retrieved: the error raised here says more
                raise
            return await future

    async def close(self) -> None:
        """Fail waiting requests and stop the Kafka clients. Idempotent."""
        async with self._lock:
            if self._state is _State.CLOSED:
                return
            self._state = _State.CLOSED
            self._pending.fail_all(BridgeClosedError("the Kafka bridge was closed"))
            await self._shut()

    async def _shut(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            await reader.stop()
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
        if self._state is _State.CLOSED:
            self._request_serde.close()
            self._response_serde.close()

    def __del__(self) -> None:
        if getattr(self, "_state", None) is _State.OPEN:
            warnings.warn(
                f"Kafka bridge {self._pending.instance_id} was not closed; call close()",
                ResourceWarning,
                stacklevel=2,
            )


def _on_delivery(
    delivery: asyncio.Future[Any], pending: PendingReplies, correlation_id: str
) -> None:
    if delivery.cancelled():
        return
    error = delivery.exception()
    if error is not None:
        logger.warning("request %s was not delivered: %s", correlation_id, error)
        pending.fail(correlation_id, error)
