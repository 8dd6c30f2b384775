"""An asyncio front end for librdkafka's consumer.

One thread per consumer calls ``consume()`` and hands each batch to the event loop;
rebalance callbacks run on that thread too and wait for the loop to finish what it
has to do (drain in-flight work, commit) before partitions move on. Offsets are
never auto-committed: the owner commits what it has handled.

An owner that has more records than it can take on asks the consumer to stop
fetching (:meth:`AsyncConsumer.hold`): the thread pauses the assigned partitions and
keeps polling, so the group membership stays alive and rebalances still run, and
resumes them on :meth:`AsyncConsumer.release`. Without that, the thread hands over
whatever librdkafka prefetches (up to ``queued.min.messages`` per partition), however
far behind the owner is.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from confluent_kafka import (
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from ._producer import settings_error, transport_error
from .exceptions import AkxError, KafkaTransportError

__all__ = ["AsyncConsumer", "BatchHandler", "RebalanceHandler"]

logger = logging.getLogger(__name__)

#: Called on the event loop with each batch of records (never empty).
BatchHandler = Callable[[list[Message]], None]
#: Called on the event loop when partitions are assigned or revoked; may return
#: offsets that the consumer thread then commits before the rebalance completes.
RebalanceHandler = Callable[[list[TopicPartition]], Awaitable[list[TopicPartition] | None]]

_REBALANCE_WAIT_SECONDS = 30.0


class AsyncConsumer:
    """Consume records on a thread and handle them on the event loop.

    Give either ``topics`` (consumer-group subscription) or ``assignment`` (explicit
    partitions with start offsets, no group membership).

    Args:
        config: librdkafka consumer settings (see ``KafkaConfig.consumer_config``).
        on_batch: called on the event loop with each batch of records.
        topics: topics to subscribe to as a member of the configured group.
        assignment: partitions (with offsets) to read without joining a group.
        on_assign: awaited on the loop when the group assigns partitions.
        on_revoke: awaited on the loop before partitions are taken away.
        batch_size: most records handed over at once.
        name: a name for log lines and the thread.
    """

    def __init__(
        self,
        config: dict[str, Any],
        on_batch: BatchHandler,
        *,
        topics: Sequence[str] = (),
        assignment: Sequence[TopicPartition] = (),
        on_assign: RebalanceHandler | None = None,
        on_revoke: RebalanceHandler | None = None,
        batch_size: int = 500,
        name: str = "akx-consumer",
    ) -> None:
        if bool(topics) == bool(assignment):
            raise ValueError("give either topics or assignment")
        self._config = dict(config)
        self._on_batch = on_batch
        self._topics = list(topics)
        self._assignment = list(assignment)
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._batch_size = batch_size
        self._name = name
        self._consumer: Consumer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._running = threading.Event()
        self._closed = False
        self.last_error: KafkaTransportError | None = None
        self._start_marks: dict[tuple[str, int], int] = {}
        # Commits are made on the consume thread, between consume() calls.
        self._commits: collections.deque[list[TopicPartition]] = collections.deque()
        # Set on the loop, applied by the consume thread (librdkafka calls on one
        # consumer from two threads at once can block each other).
        self._hold = False
        self._held = False  # what the thread last applied
        self._reassigned = False  # partitions changed since then: apply again

    @property
    def consumer(self) -> Consumer:
        """The underlying librdkafka consumer (for offsets and metadata queries)."""
        if self._consumer is None:
            raise AkxError(f"{self._name} is not started")
        return self._consumer

    async def start(self) -> None:
        """Create the consumer, subscribe or assign, and start consuming."""
        if self._closed:
            raise AkxError(f"{self._name} was stopped and cannot be started again")
        if self._consumer is not None:
            return
        self._loop = asyncio.get_running_loop()
        config = dict(self._config)
        config.setdefault("error_cb", self._on_error)
        try:
            consumer = Consumer(config)
        except KafkaException as exc:
            raise settings_error(exc, "consumer") from exc
        self._consumer = consumer
        await asyncio.to_thread(self._open, consumer)
        self._running.set()
        self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
        self._thread.start()

    def _open(self, consumer: Consumer) -> None:
        # Metadata first: without it the first fetch after assign() waits ~500 ms.
        topics = self._topics or sorted({tp.topic for tp in self._assignment})
        for topic in topics:
            consumer.list_topics(topic, timeout=10)
        if self._topics:
            consumer.subscribe(self._topics, on_assign=self._assigned, on_revoke=self._revoked)
        else:
            # Asked here, before the consume thread exists: librdkafka calls on one
            # consumer from two threads at once can block each other.
            for tp in self._assignment:
                _low, high = consumer.get_watermark_offsets(tp, timeout=10)
                self._start_marks[(tp.topic, tp.partition)] = high
            consumer.assign([self._resolve(consumer, tp) for tp in self._assignment])

    def _resolve(self, consumer: Consumer, tp: TopicPartition) -> TopicPartition:
        # OFFSET_END is resolved lazily by librdkafka, so a record produced right
        # after assign() could be skipped; pin the current end offset instead.
        if tp.offset != OFFSET_END:
            return tp
        return TopicPartition(tp.topic, tp.partition, self._start_marks[(tp.topic, tp.partition)])

    @property
    def start_watermarks(self) -> dict[tuple[str, int], int]:
        """The end offset of each assigned partition when the consumer started."""
        return dict(self._start_marks)

    def _on_error(self, error: KafkaError) -> None:
        self.last_error = transport_error(error, self._name)
        logger.warning("%s: %s", self._name, error.str())

    def _call_on_loop(
        self, handler: RebalanceHandler | None, partitions: list[TopicPartition]
    ) -> list[TopicPartition] | None:
        loop = self._loop
        if handler is None or loop is None or loop.is_closed():
            return None
        future = asyncio.run_coroutine_threadsafe(_await(handler, partitions), loop)
        try:
            return future.result(_REBALANCE_WAIT_SECONDS)
        except concurrent.futures.TimeoutError:
            logger.error("%s: rebalance handler did not finish in time", self._name)
        except Exception:
            logger.exception("%s: rebalance handler failed", self._name)
        return None

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._reassigned = True
        self._call_on_loop(self._on_assign, partitions)

    @property
    def holding(self) -> bool:
        """Whether fetching is held (see :meth:`hold`)."""
        return self._hold

    def hold(self) -> None:
        """Stop fetching new records until :meth:`release` (idempotent).

        Records librdkafka had already fetched may still arrive; the group membership
        and rebalances go on as usual.
        """
        self._hold = True

    def release(self) -> None:
        """Fetch again after :meth:`hold` (idempotent)."""
        self._hold = False

    def _apply_hold(self, consumer: Consumer) -> None:
        hold = self._hold
        if hold == self._held and not self._reassigned:
            return
        self._reassigned = False
        try:
            assignment = consumer.assignment()
            if assignment:
                # Resume too after a reassignment: whatever librdkafka kept of the
                # pause flags, the new partitions fetch only if not held.
                (consumer.pause if hold else consumer.resume)(assignment)
                if not hold:
                    _restart_fetching(consumer, assignment)
        except KafkaException as exc:
            logger.warning("%s: pause/resume failed: %s", self._name, exc)
            self._reassigned = True  # try again on the next round
            return
        self._held = hold

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        offsets = self._call_on_loop(self._on_revoke, partitions)
        if offsets:
            # On this thread, inside the callback: the commit lands before the
            # partitions go to their next owner.
            try:
                consumer.commit(offsets=offsets, asynchronous=False)
            except KafkaException as exc:
                logger.warning("%s: commit on revoke failed: %s", self._name, exc)

    def _serve(self) -> None:
        consumer, loop = self._consumer, self._loop
        assert consumer is not None
        assert loop is not None
        while self._running.is_set():
            self._flush_commits(consumer)
            try:
                self._apply_hold(consumer)
                # consume() waits for a full batch or the timeout; poll() returns on
                # the first record, then consume(timeout=0) takes what is ready. A
                # held consumer polls briefly, to notice its release soon.
                first = consumer.poll(0.01 if self._held else 0.1)
                if first is None:
                    continue
                messages = [first, *consumer.consume(self._batch_size - 1, 0)]
            except KafkaException as exc:
                logger.warning("%s: consume failed: %s", self._name, exc)
                continue
            except RuntimeError:  # consumer closed under us during stop
                return
            batch: list[Message] = []
            for message in messages:
                error = message.error()
                if error is None:
                    batch.append(message)
                elif error.code() != KafkaError._PARTITION_EOF:  # pyright: ignore[reportPrivateUsage]
                    self._on_error(error)
            if batch and self._running.is_set() and not loop.is_closed():
                loop.call_soon_threadsafe(self._on_batch, batch)

    def commit(self, offsets: list[TopicPartition]) -> None:
        """Commit offsets (the next offset to read) soon, without waiting."""
        if offsets:
            self._commits.append(offsets)

    def _flush_commits(self, consumer: Consumer) -> None:
        while self._commits:
            offsets = self._commits.popleft()
            try:
                consumer.commit(offsets=offsets, asynchronous=True)
            except KafkaException as exc:
                logger.warning("%s: commit failed: %s", self._name, exc)

    async def stop(self) -> None:
        """Stop consuming and leave the group (revoke handlers run first). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._running.clear()
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join)
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            self._flush_commits(consumer)
            # close() runs the revoke callback, which waits on this loop: keep the
            # loop free by closing from a thread.
            await asyncio.to_thread(consumer.close)


def _restart_fetching(consumer: Consumer, partitions: list[TopicPartition]) -> None:
    """Make librdkafka fetch resumed partitions now rather than on its next 1 s tick.

    When every partition a broker connection serves is paused, librdkafka's fetcher
    for it sleeps, and ``resume()`` does not wake it: the first fetch came ~1 s later
    (measured: 0.84-0.90 s with records waiting, every time). A seek to the position
    the application has reached does wake it (1-4 ms) and reads nothing twice.
    Partitions that have not returned a record since their assignment (or last seek)
    have no position; one seek wakes the fetcher for all of them (measured: a record of
    such a partition 1-7 ms after the resume). A hold follows records, so some
    partition has a position when it is released.
    """
    for position in consumer.position(partitions):
        if position.offset >= 0:
            consumer.seek(position)


async def _await(
    handler: RebalanceHandler, partitions: list[TopicPartition]
) -> list[TopicPartition] | None:
    return await handler(partitions)
