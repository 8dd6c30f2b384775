"""``RequestProcessor``: an async function served as a Kafka request/reply handler.

Consume, transform, produce: requests are read by a consumer group (start more
processors with the same group to scale out), each is passed to the handler, and the
replies, dead letters and the consumer offsets of the batch are committed in one
Kafka transaction. On a cluster with transactions this is exactly-once per request;
on the embedded development broker (which shows aborted records to
``read_committed`` readers) a retried batch may deliver a reply twice, which the
bridge counts as a late reply, so handlers should be idempotent.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import uuid
import warnings
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from confluent_kafka import Consumer, Message, TopicPartition
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from akx_events import AsyncConsumer, TopicSpec, ensure_topics

from ._answering import RequestAnswerer
from ._config import KafkaAgentConfig, RequestProcessorConfig
from ._handler import Handler, handler_types
from ._telemetry import BridgeTelemetry
from ._transactions import TransactionalProducer
from .exceptions import BridgeClosedError

__all__ = ["ProcessorStats", "RequestProcessor", "serve"]

logger = logging.getLogger("autogen_kafka_extension.agent.kafka_streaming_agent.processor")

Req = TypeVar("Req")
Resp = TypeVar("Resp")


@dataclass(frozen=True, kw_only=True)
class ProcessorStats:
    """Counters of one processor since it started.

    Attributes:
        requests: requests read (including undecodable ones).
        replies: successful replies produced.
        handler_errors: requests answered with an error reply.
        dead_lettered: requests copied to the dead-letter topic.
        transactions: transactions committed.
    """

    requests: int = 0
    replies: int = 0
    handler_errors: int = 0
    dead_lettered: int = 0
    transactions: int = 0


class _GroupMemberConsumer(AsyncConsumer):
    """An :class:`AsyncConsumer` that keeps its group metadata for transactional commits."""

    group_metadata: Any = None

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Read here, on the consume thread inside the rebalance callback: called from
        # any other thread while consume() runs, consumer_group_metadata() never
        # returns. The generation only changes at a rebalance, which ends here.
        self.group_metadata = consumer.consumer_group_metadata()
        super()._assigned(consumer, partitions)


class _State(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


class RequestProcessor(Generic[Req, Resp]):
    """Serves ``handler`` on the request topic following the bridge's record contract.

    Args:
        config: topics and group; a :class:`KafkaAgentConfig` is read from the
            handler's side (same topics, default processor settings).
        handler: ``async def handler(request: Req) -> Resp``.
        request_type: defaults to the annotation of the handler's first parameter.
        response_type: defaults to the handler's return annotation.
        tracer_provider: OpenTelemetry tracer provider; the global one by default.
        meter_provider: OpenTelemetry meter provider; the global one by default.

    Raises:
        TypeError: a type is missing or not a ``@dataclass`` ``KafkaMessageType``.
    """

    def __init__(
        self,
        config: RequestProcessorConfig | KafkaAgentConfig,
        handler: Handler[Req, Resp],
        *,
        request_type: type[Req] | None = None,
        response_type: type[Resp] | None = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        if isinstance(config, KafkaAgentConfig):
            config = RequestProcessorConfig.for_agent_config(config)
        self._request_type, self._response_type = handler_types(
            handler, request_type, response_type
        )
        self._config = config
        self._counts: dict[str, int] = dict.fromkeys(ProcessorStats.__dataclass_fields__, 0)
        self._answerer: RequestAnswerer[Req, Resp] = RequestAnswerer(
            config,
            handler,
            self._request_type,
            self._response_type,
            self._counts,
            BridgeTelemetry(tracer_provider, meter_provider),
        )
        self._backlog: collections.deque[Message] = collections.deque()
        self._has_work = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._done = asyncio.Event()
        self._failure: BaseException | None = None
        self._consumer: _GroupMemberConsumer | None = None
        self._producer: TransactionalProducer | None = None
        self._worker: asyncio.Task[None] | None = None
        self._state = _State.NEW

    @property
    def stats(self) -> ProcessorStats:
        """A snapshot of the counters."""
        return ProcessorStats(**self._counts)

    async def __aenter__(self) -> RequestProcessor[Req, Resp]:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Create missing topics, register schemas, join the group and start answering.

        Raises:
            BridgeClosedError: the processor was stopped.
            BrokerUnavailableError: the broker did not answer within ``start_timeout``.
        """
        if self._state is _State.STOPPED:
            raise BridgeClosedError("this request processor was stopped")
        if self._state is _State.RUNNING:
            return
        self._state = _State.RUNNING
        try:
            await self._open()
        except BaseException:
            await self.stop()
            raise

    async def _open(self) -> None:
        config, kafka = self._config, self._config.kafka_config
        if config.create_topics:
            names = (config.request_topic, config.response_topic, config.request_dead_letter_topic)
            specs = [
                TopicSpec(
                    name=n,
                    partitions=kafka.num_partitions,
                    replication_factor=kafka.replication_factor,
                )
                for n in names
            ]
            await ensure_topics(kafka.client_config(), specs, timeout=config.start_timeout)
        await self._answerer.prepare()
        transactional_id = config.transactional_id or f"{kafka.client_id}-{uuid.uuid4().hex[:12]}"
        producer_config = kafka.producer_config() | {"transactional.id": transactional_id}
        self._producer = TransactionalProducer(producer_config, timeout=config.start_timeout)
        await self._producer.start()
        consumer_config = kafka.consumer_config(config.group_id or kafka.group_id)
        if "auto.offset.reset" not in kafka.consumer_extra:
            consumer_config["auto.offset.reset"] = config.start_from
        self._consumer = _GroupMemberConsumer(
            consumer_config,
            self._on_batch,
            topics=[config.request_topic],
            on_revoke=self._on_revoke,
            batch_size=config.max_batch,
            name=f"akx-processor-{transactional_id}",
        )
        self._worker = asyncio.get_running_loop().create_task(self._work())
        await self._consumer.start()

    async def wait(self) -> None:
        """Wait until the processor stops; re-raise the error that stopped it, if any."""
        await self._done.wait()
        if self._failure is not None:
            raise self._failure

    async def stop(self) -> None:
        """Finish the batch in hand, commit it, leave the group and stop. Idempotent."""
        if self._state is _State.STOPPED:
            return
        self._state = _State.STOPPED
        if self._consumer is not None:
            await self._consumer.stop()  # its revoke handler waits for the batch in hand
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
        self._answerer.close()
        self._done.set()

    def __del__(self) -> None:
        if getattr(self, "_state", None) is _State.RUNNING:
            warnings.warn(
                "RequestProcessor was not stopped; call stop() or use 'async with'",
                ResourceWarning,
                stacklevel=2,
            )

    def _on_batch(self, messages: list[Message]) -> None:
        self._backlog.extend(messages)
        self._has_work.set()
        self._fetch_while_room()

    def _fetch_while_room(self) -> None:
        """Hold fetching while a full batch waits behind the one in hand, else release.

        Without the hold, a backlog on the topic would end up in memory here.
        """
        consumer = self._consumer
        if consumer is None:
            return
        if len(self._backlog) >= self._config.max_batch:
            consumer.hold()
        elif consumer.holding:
            consumer.release()

    async def _on_revoke(self, partitions: list[TopicPartition]) -> None:
        # Records of revoked partitions not yet handled go to their next owner (their
        # offsets are not committed); the batch in hand is finished and committed first.
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        kept = [m for m in self._backlog if (m.topic(), m.partition()) not in revoked]
        self._backlog.clear()
        self._backlog.extend(kept)
        self._fetch_while_room()
        await self._idle.wait()

    async def _work(self) -> None:
        backlog, limit = self._backlog, self._config.max_batch
        while True:
            await self._has_work.wait()
            batch = [backlog.popleft() for _ in range(min(len(backlog), limit))]
            if not backlog:
                self._has_work.clear()
            self._fetch_while_room()
            if not batch:
                continue
            self._idle.clear()
            try:
                await self._process(batch)
            except Exception as exc:
                logger.exception("request processor stopped: batch of %d failed", len(batch))
                self._failure = exc
                self._done.set()
                return
            finally:
                self._idle.set()

    async def _process(self, batch: list[Message]) -> None:
        answer = self._answerer.answer
        answers = await asyncio.gather(*(answer(message) for message in batch))
        records = [record for answer in answers for record in answer]
        offsets: dict[tuple[str, int], int] = {}
        for message in batch:
            where = (message.topic() or "", message.partition() or 0)
            offsets[where] = max(offsets.get(where, 0), (message.offset() or 0) + 1)
        consumer, producer = self._consumer, self._producer
        if consumer is None or producer is None:
            raise BridgeClosedError("the request processor was stopped with a batch in hand")
        await producer.commit(
            records,
            [TopicPartition(t, p, o) for (t, p), o in offsets.items()],
            consumer.group_metadata,
        )
        self._counts["transactions"] += 1


async def serve(
    config: RequestProcessorConfig | KafkaAgentConfig,
    handler: Handler[Req, Resp],
    *,
    request_type: type[Req] | None = None,
    response_type: type[Resp] | None = None,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> None:
    """Answer requests with ``handler`` until cancelled (or until a fatal Kafka error).

    The arguments are those of :class:`RequestProcessor`.

    Raises:
        TypeError: the request or response type is missing or unsuitable.
        KafkaTransportError: the processor could not commit a transaction.
    """
    processor = RequestProcessor(
        config,
        handler,
        request_type=request_type,
        response_type=response_type,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )
    try:
        await processor.start()
        await processor.wait()
    finally:
        await processor.stop()
