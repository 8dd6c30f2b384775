"""An asyncio front end for librdkafka's producer.

``Producer.produce`` only appends to librdkafka's in-memory queue, so it is called on
the event loop; everything that can wait (delivery reports, flush, close) runs on a
thread of its own. Each produced record gets an asyncio future that completes when
the broker acknowledged it.

Delivery reports are collected on the delivery thread and handed to the loop in
batches, one wake-up per ``poll()`` however many records it acknowledged: a wake-up
per record costs a self-pipe write and a GIL hand-off each, which under load made
``produce`` calls on the loop wait for the GIL far longer than they run.

Records are handed to librdkafka once per loop iteration, together: ``produce`` only
queues them. With ``linger.ms=0`` every record that finds librdkafka's queue empty
wakes its broker thread, which on a busy machine preempts the producing thread and
sends a request for that one record; handing over a loop iteration's records in one
go wakes it once for all of them. The cost is one loop iteration of latency.

A producer that hit a fatal error (an idempotent producer fenced by the broker, as the
embedded broker does after a record timed out) is replaced by a new one before the next
records are handed in: its queued records fail, later ones go through.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import threading
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from .exceptions import (
    AkxError,
    BrokerUnavailableError,
    ConfigurationError,
    KafkaTransportError,
)

__all__ = ["AsyncProducer", "Headers"]

logger = logging.getLogger(__name__)

#: Kafka record headers as librdkafka takes and returns them.
Headers = Sequence[tuple[str, bytes | None]]

_CONNECT_SECONDS = 1.0
_POLL_SECONDS = 0.05
#: How long records wait before librdkafka's full queue is tried again.
_FULL_QUEUE_PAUSE = 0.005

#: Errors after which an idempotent producer never delivers again.
_FENCED = frozenset({KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH})

#: A delivery report waiting for the loop: the record's future, error, message, topic.
_Report = tuple["asyncio.Future[Message]", "KafkaError | None", Message, str]
#: A record waiting for the end of the loop iteration: topic, produce() arguments, future.
_Queued = tuple[str, dict[str, Any], "asyncio.Future[Message]"]


class _QueueFullError(KafkaTransportError):
    """librdkafka's local queue is full (``queue.buffering.max.messages``)."""


def transport_error(error: KafkaError, what: str) -> KafkaTransportError:
    """Turn a librdkafka error into the akx error a caller can act on."""
    if error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):  # pyright: ignore[reportPrivateUsage]
        return BrokerUnavailableError(f"{what}: {error.str()}")
    if error.code() == KafkaError._MSG_TIMED_OUT:  # pyright: ignore[reportPrivateUsage]
        # librdkafka flags it as final, but sending again once the broker answers works.
        return KafkaTransportError(
            f"{what}: not acknowledged within message.timeout.ms ({error.str()})",
            retriable=True,
        )
    return KafkaTransportError(f"{what}: {error.str()}", retriable=bool(error.retriable()))


def settings_error(exc: KafkaException, client: str) -> ConfigurationError:
    """The error for client settings librdkafka refused when the client was made.

    librdkafka checks the settings then (it refuses Java's ``sasl.jaas.config``, say);
    its message names the setting, not the value, so no secret leaks into it.
    """
    return ConfigurationError(
        "kafka", f"librdkafka refused the {client} settings: {exc.args[0].str()}"
    )


class AsyncProducer:
    """Produce records from asyncio code and await their acknowledgement.

    Args:
        config: librdkafka producer settings (see ``KafkaConfig.producer_config``).
        name: a name for log lines and the delivery thread.
        max_backlog: most records waiting here while librdkafka's queue is full;
            beyond it a record fails at once (retriable) instead of waiting.
    """

    def __init__(
        self, config: dict[str, Any], *, name: str = "akx-producer", max_backlog: int = 100_000
    ) -> None:
        self._config = dict(config)
        self._max_backlog = max_backlog
        self._name = name
        self._producer: Producer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._running = threading.Event()
        self._closed = False
        # Filled by delivery callbacks on whichever thread serves them (the delivery
        # thread, or flush() in a worker thread); drained on the loop.
        self._reports: collections.deque[_Report] = collections.deque()
        self._wake_pending = False
        # Set by the error callback on a fatal error; acted on by the next produce().
        self._fatal: KafkaError | None = None
        # Replaced producers, to be purged and polled once on the delivery thread.
        self._retired: collections.deque[Producer] = collections.deque()
        self.replacements = 0
        # Records queued on the loop and handed to librdkafka once per iteration.
        self._queued: list[_Queued] = []
        self._hand_in_pending = False

    @property
    def started(self) -> bool:
        """Whether :meth:`start` ran and :meth:`stop` did not."""
        return self._producer is not None

    async def start(self) -> None:
        """Create the producer and its delivery thread."""
        if self._closed:
            raise AkxError(f"{self._name} was stopped and cannot be started again")
        if self._producer is not None:
            return
        self._loop = asyncio.get_running_loop()
        config = dict(self._config)
        config.setdefault("error_cb", self._on_error)
        try:
            self._producer = Producer(config)
        except KafkaException as exc:
            raise settings_error(exc, "producer") from exc
        self._running.set()
        self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
        self._thread.start()

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self._fatal = error
            logger.error("%s: fatal error, a new producer takes over: %s", self._name, error.str())
        else:
            logger.warning("%s: %s", self._name, error.str())

    def _replace_if_fatal(self) -> None:
        """Swap a producer that hit a fatal error for a new one (on the loop)."""
        if self._fatal is None or self._producer is None:
            return
        self._fatal = None
        config = dict(self._config)
        config.setdefault("error_cb", self._on_error)
        retired, self._producer = self._producer, Producer(config)
        self._retired.append(retired)
        self.replacements += 1

    def _serve(self) -> None:
        connected: Producer | None = None
        while self._running.is_set():
            producer = self._producer
            if producer is None:
                return
            if producer is not connected:  # the first one, or one that replaced it
                _connect_now(producer, self._name)
                connected = producer
            producer.poll(_POLL_SECONDS)
            while self._retired:
                self._retire(self._retired.popleft())
            self._hand_over()

    def _retire(self, producer: Producer) -> None:
        # Its records can no longer be delivered: fail their futures now.
        with contextlib.suppress(Exception):
            producer.purge()
            producer.poll(0)
            producer.flush(0)

    def _report(
        self,
        future: asyncio.Future[Message],
        topic: str,
        error: KafkaError | None,
        message: Message,
    ) -> None:
        # A librdkafka delivery callback: only queue the report (see the module doc).
        self._reports.append((future, error, message, topic))
        if error is not None and (error.fatal() or error.code() in _FENCED):
            # Every later record of this producer would fail the same way.
            if self._fatal is None:
                logger.error("%s: %s; a new producer takes over", self._name, error.str())
            self._fatal = error

    def _hand_over(self) -> None:
        """Wake the loop once for all reports queued since its last drain."""
        loop = self._loop
        if not self._reports or self._wake_pending or loop is None:
            return
        self._wake_pending = True
        try:
            loop.call_soon_threadsafe(self._settle_reports)
        except RuntimeError:  # the loop is closed: nobody awaits these futures any more
            self._wake_pending = False

    def _settle_reports(self) -> None:
        # Cleared before draining: a report queued after this line schedules a new
        # drain, one queued before it is taken by this one.
        self._wake_pending = False
        reports = self._reports
        while reports:
            _settle(*reports.popleft())

    def produce(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> asyncio.Future[Message]:
        """Queue a record; the returned future completes when the broker acknowledged it.

        The record reaches librdkafka at the end of this loop iteration (see the module
        doc). While librdkafka's own queue is full, records wait here, in order; the
        future fails with a retriable :class:`KafkaTransportError` only when more than
        ``max_backlog`` records already wait. A record librdkafka refuses for another
        reason fails its future with :class:`KafkaTransportError`.

        Raises:
            AkxError: the producer is not started.
        """
        loop = self._loop
        if self._producer is None or loop is None:
            raise AkxError(f"{self._name} is not started")
        future: asyncio.Future[Message] = loop.create_future()
        if len(self._queued) >= self._max_backlog:
            future.set_exception(
                _QueueFullError(
                    f"{self._name}: local queue full producing to {topic!r} "
                    f"({len(self._queued)} records wait for room)",
                    retriable=True,
                )
            )
            return future
        kwargs: dict[str, Any] = {"value": value, "key": key}
        if headers:
            kwargs["headers"] = list(headers)
        if partition is not None:
            kwargs["partition"] = partition
        self._queued.append((topic, kwargs, future))
        if not self._hand_in_pending:
            self._hand_in_pending = True
            loop.call_soon(self._hand_in)
        return future

    def _hand_in(self) -> None:
        """Give librdkafka the queued records, in order, until its queue is full."""
        self._hand_in_pending = False
        if self._fatal is not None:
            self._replace_if_fatal()
        producer, queued = self._producer, self._queued
        handed = 0
        for topic, kwargs, future in queued:
            if future.done():  # cancelled by its owner before it was handed in
                handed += 1
                continue
            if producer is None:
                future.set_exception(AkxError(f"{self._name} is stopped"))
                handed += 1
                continue
            try:
                producer.produce(
                    topic, on_delivery=functools.partial(self._report, future, topic), **kwargs
                )
            except BufferError:
                # Full: the rest waits (in order) until librdkafka sent some.
                loop = self._loop
                if loop is not None and not self._hand_in_pending:
                    self._hand_in_pending = True
                    loop.call_later(_FULL_QUEUE_PAUSE, self._hand_in)
                break
            except Exception as exc:  # KafkaException, TypeError from bad arguments
                error = KafkaTransportError(f"{self._name}: cannot produce to {topic!r}: {exc}")
                error.__cause__ = exc
                future.set_exception(error)
            handed += 1
        del queued[:handed]

    async def send(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> Message:
        """Produce a record and wait for its acknowledgement, waiting out a full queue."""
        while True:
            try:
                return await self.produce(
                    topic, value, key=key, headers=headers, partition=partition
                )
            except _QueueFullError:
                await asyncio.sleep(_FULL_QUEUE_PAUSE)

    async def flush(self, timeout: float = 10.0) -> int:
        """Wait until queued records are delivered; returns how many are still queued."""
        self._hand_in()
        producer = self._producer
        if producer is None:
            return 0
        remaining = await asyncio.to_thread(producer.flush, timeout)
        self._settle_reports()  # those flush() served on its thread
        return remaining + len(self._queued)  # and those still waiting for room

    async def stop(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (up to ``timeout``), then stop. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._hand_in()
        producer, self._producer = self._producer, None
        if producer is None:
            return
        remaining = await asyncio.to_thread(producer.flush, timeout)
        self._settle_reports()
        if remaining:
            logger.warning("%s stopped with %d undelivered records", self._name, remaining)
        self._running.clear()
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join)
        while self._retired:
            self._retire(self._retired.popleft())
        self._hand_in()  # fails what still waits for room: the producer is gone
        # Fail what could not be delivered instead of leaving its future pending.
        with contextlib.suppress(Exception):
            producer.purge()
            producer.poll(0)
        self._settle_reports()


def _connect_now(producer: Producer, name: str) -> None:
    """Connect to a broker at once, so the producer gets its id early.

    An idempotent producer delivers nothing until a broker has given it a producer
    id. librdkafka asks at creation, when no connection is up yet, and then again when
    a broker connection comes up, or else on a 500 ms timer. It connects lazily, and
    its first connection (to a bootstrap address) does not count: it is replaced by
    one to the broker the metadata names. Measured: a fresh runtime's first call took
    0.7-0.95 s (later ones 5-12 ms); a producer whose metadata request was answered
    over the bootstrap connection was ready after ~504 ms, one answered by a named
    broker after ~55 ms (10 of 10). So ask until a named broker (id >= 0) answers.
    """
    for _ in range(3):
        try:
            metadata = producer.list_topics(timeout=_CONNECT_SECONDS)
        except Exception as exc:  # the broker is away: records wait and time out as usual
            logger.debug("%s: no broker answered yet: %s", name, exc)
            return
        if metadata.orig_broker_id >= 0:
            return


def _settle(
    future: asyncio.Future[Message], error: KafkaError | None, message: Message, topic: str
) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(transport_error(error, f"delivery to {topic!r} failed"))
    else:
        future.set_result(message)
