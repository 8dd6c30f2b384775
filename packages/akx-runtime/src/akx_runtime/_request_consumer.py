"""The consumer of one agent type's request topic, shared through a consumer group.

Every worker hosting agent type ``T`` joins the group ``akx.<request_topic>.T``, so
each request is handled by exactly one of them, and adding a worker spreads the
partitions. Offsets are committed only after the request was handled and its reply
acknowledged by the broker; on revocation, in-flight records are drained and their
offsets committed before the partitions move on. With a journal (see ``_journal``),
a checkpoint precedes every commit, and records an earlier owner already handled are
skipped (their stored replies sent again) instead of run twice.

At most ``max_in_flight`` records are handled at once (from dispatch until the reply
is acknowledged). Records beyond that wait here in order, and while as many wait,
the consumer stops fetching: a worker that joins a group with a large backlog does
not start a handler for every record librdkafka prefetches, nor hold them all. Waiting
records are not "started" for the offset tracker, so commit points stay below them,
and on revocation they are dropped for the next owner to read again.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from confluent_kafka import Message, TopicPartition

from akx_events._consumer import AsyncConsumer

from ._handlers import InFlightHandlers
from ._journal import Journal, JournalTail, StoredReply, read_journal, read_states
from ._offsets import OffsetTracker

__all__ = ["RequestConsumer"]

logger = logging.getLogger("autogen_kafka_extension.runtimes.kafka_agent_runtime")

_COMMIT_DELAY = 0.05
_REVOKE_DRAIN_SECONDS = 20.0

#: Handles one record: the runtime decodes it, runs the agent and queues the reply.
#: It returns the reply's delivery future (or None); the record's offset is committed
#: only once that delivery is acknowledged, but the agent's next record need not wait.
RecordHandler = Callable[[Message], Awaitable["asyncio.Future[Any] | None"]]
#: Sends a reply stored in the journal again; returns its delivery future.
ReplySender = Callable[[StoredReply], "asyncio.Future[Any]"]
#: Told which partitions this worker lost (to drop agents whose state moved on).
RevokeListener = Callable[[str, list[int]], Awaitable[None]]


class RequestConsumer:
    """Consume one agent type's requests and start a handler for each, in offset order."""

    def __init__(
        self,
        *,
        agent_type: str,
        topic: str,
        consumer_config: dict[str, Any],
        handle: RecordHandler,
        journal: Journal | None = None,
        resend: ReplySender | None = None,
        state_topic: str | None = None,
        on_revoked: RevokeListener | None = None,
        max_in_flight: int = 1000,
    ) -> None:
        self.agent_type = agent_type
        self.topic = topic
        self._handle_record = handle
        self._journal = journal
        self._resend = resend
        self._state_topic = state_topic
        self._on_revoked = on_revoked
        # Readers of the journal and state topics join no group.
        self._reader_config = {
            k: v
            for k, v in consumer_config.items()
            if k not in ("group.id", "auto.offset.reset", "group.instance.id")
        }
        self._offsets = OffsetTracker()
        self._handlers: InFlightHandlers[Message] = InFlightHandlers(self._run)
        self._commit_handle: asyncio.TimerHandle | None = None
        self._tails: dict[int, JournalTail] = {}
        self._states: dict[int, dict[str, bytes]] = {}
        # Journal offsets of done records whose replies are not acknowledged yet.
        self._unreplied: dict[tuple[int, int], int] = {}
        self.skipped = 0
        self.replies_resent = 0
        self._max_in_flight = max_in_flight
        self._active = 0  # dispatched, not finished
        self._waiting: collections.deque[Message] = collections.deque()
        self._dispatching = False
        self._stopping = False
        self._consumer = AsyncConsumer(
            consumer_config,
            self._on_batch,
            topics=[topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            name=f"akx-requests-{agent_type}",
        )

    @property
    def busy(self) -> int:
        """Records received and not yet handled (running or waiting their turn)."""
        return self._handlers.busy + len(self._waiting)

    @property
    def in_flight(self) -> int:
        """Records dispatched whose handling (with its reply) has not finished."""
        return self._active

    async def start(self) -> None:
        """Join the group and start consuming."""
        await self._consumer.start()

    async def _on_assign(self, partitions: list[TopicPartition]) -> None:
        mine = [tp.partition for tp in partitions if tp.topic == self.topic]
        if not mine:
            return
        # Learn what earlier owners handled before the first record of these
        # partitions is dispatched (the consume thread waits for this).
        if self._journal is not None:
            try:
                tails = await asyncio.to_thread(
                    read_journal, self._reader_config, self._journal.topic, mine
                )
            except Exception:
                logger.error(
                    "could not read journal %s; records may run twice",
                    self._journal.topic,
                    exc_info=True,
                )
            else:
                self._tails.update(tails)
        if self._state_topic is not None:
            try:
                states = await asyncio.to_thread(
                    read_states, self._reader_config, self._state_topic, mine
                )
            except Exception:
                logger.error(
                    "could not read agent states from %s", self._state_topic, exc_info=True
                )
            else:
                self._states.update(states)

    def saved_state(self, partition: int, key: str) -> bytes | None:
        """The newest checkpointed state of agent ``key`` in ``partition``, if any."""
        tail = self._tails.get(partition)
        if tail is not None and key in tail.states:
            return tail.states[key]
        return self._states.get(partition, {}).get(key)

    def remember_state(self, partition: int, key: str, state: bytes) -> None:
        """Keep a state this worker checkpointed, for an agent re-created here."""
        self._states.setdefault(partition, {})[key] = state
        tail = self._tails.get(partition)
        if tail is not None:
            tail.states.pop(key, None)

    def journaled(self, partition: int, offset: int, journal_offset: int) -> None:
        """A done record was acknowledged; its reply went out beside it (ADR 0005)."""
        self._unreplied[(partition, offset)] = journal_offset

    def _on_batch(self, messages: list[Message]) -> None:
        self._waiting.extend(messages)
        self._dispatch()

    def _dispatch(self) -> None:
        """Start waiting records, in order, while fewer than the limit are in flight."""
        if self._dispatching or self._stopping:
            # (A skipped record finishing at once calls back in here.)
            return
        self._dispatching = True
        try:
            waiting = self._waiting
            while waiting and self._active < self._max_in_flight:
                message = waiting.popleft()
                topic, partition, offset = message.topic(), message.partition(), message.offset()
                assert topic is not None and partition is not None and offset is not None
                self._offsets.started(topic, partition, offset)
                self._active += 1
                tail = self._tails.get(partition)
                if tail is not None and tail.is_handled(offset):
                    self._skip(message, tail.replies.get(offset))
                else:
                    self._handlers.submit(message)
        finally:
            self._dispatching = False
        # Up to max_in_flight records wait in hand: fetching resumes while some are
        # still here, so a finishing handler's successor never waits for a fetch.
        if len(self._waiting) >= self._max_in_flight:
            self._consumer.hold()
        elif self._consumer.holding:
            self._consumer.release()

    def _skip(self, message: Message, reply: StoredReply | None) -> None:
        """Pass over a record an earlier owner handled, sending its stored reply again."""
        self.skipped += 1
        logger.info(
            "request %s[%s]@%s was handled before a failover; not running it again",
            message.topic(),
            message.partition(),
            message.offset(),
        )
        if reply is None or self._resend is None:
            self._finished(message)
            return
        try:
            delivery = self._resend(reply)
        except Exception:
            logger.error("could not send a stored reply to %s", reply.topic, exc_info=True)
            self._finished(message)
            return
        self.replies_resent += 1
        delivery.add_done_callback(lambda _d: self._finished(message))

    async def _run(self, message: Message) -> None:
        delivery: asyncio.Future[Any] | None = None
        try:
            delivery = await self._handle_record(message)
        finally:
            if delivery is None or delivery.done():
                self._finished(message)
            else:
                delivery.add_done_callback(lambda _d: self._finished(message))

    def _finished(self, message: Message) -> None:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        assert topic is not None and partition is not None and offset is not None
        self._offsets.finished(topic, partition, offset)
        self._unreplied.pop((partition, offset), None)
        self._active -= 1
        self._schedule_commit()
        self._dispatch()

    def _schedule_commit(self) -> None:
        if self._commit_handle is None:
            loop = asyncio.get_running_loop()
            self._commit_handle = loop.call_later(_COMMIT_DELAY, self._commit)

    def _commit(self) -> None:
        self._commit_handle = None
        points = self._offsets.commit_points()
        if not points:
            return
        if self._journal is None:
            self._consumer.commit(points)
            return
        # Checkpoint first, so the journal is never behind the committed offsets: a
        # new owner finds a checkpoint at or above where it starts reading requests
        # and need not read the journal further back.
        try:
            checkpoints = self._checkpoints(points)
        except Exception:
            logger.warning("could not write journal checkpoints; commit postponed", exc_info=True)
            return
        done = asyncio.gather(*checkpoints, return_exceptions=True)
        done.add_done_callback(lambda d: self._commit_after(d, points))

    def _commit_after(
        self, checkpoints: asyncio.Future[list[Any]], points: list[TopicPartition]
    ) -> None:
        if checkpoints.cancelled() or any(
            isinstance(r, BaseException) for r in checkpoints.result()
        ):
            logger.warning("a journal checkpoint failed; commit postponed")
            return
        self._consumer.commit(points)

    def _checkpoints(self, points: list[TopicPartition]) -> list[asyncio.Future[Any]]:
        journal = self._journal
        assert journal is not None
        futures: list[asyncio.Future[Any]] = []
        for point in points:
            since = [j for (p, _o), j in self._unreplied.items() if p == point.partition]
            futures.append(
                journal.checkpoint(
                    partition=point.partition,
                    commit_point=point.offset,
                    handled=self._offsets.handled_above(point.topic, point.partition),
                    since=min(since) if since else None,
                )
            )
        return futures

    async def _on_revoke(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        # Records of these partitions not dispatched yet are the next owner's: it
        # starts reading at the commit point, which is below them.
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        self._waiting = collections.deque(
            m for m in self._waiting if (m.topic(), m.partition()) not in revoked
        )
        self._dispatch()
        # Finish what we hold of these partitions, then commit, so the next owner
        # starts after the last handled record and nothing runs twice.
        deadline = time.monotonic() + _REVOKE_DRAIN_SECONDS
        while time.monotonic() < deadline and any(
            self._offsets.in_flight(tp.topic, tp.partition) for tp in partitions
        ):
            await asyncio.sleep(0.01)
        points = [
            p
            for p in self._offsets.commit_points(only_new=False)
            if any(p.topic == tp.topic and p.partition == tp.partition for tp in partitions)
        ]
        if self._journal is not None and points:
            try:
                await asyncio.wait_for(asyncio.gather(*self._checkpoints(points)), 10)
            except Exception:
                logger.warning("journal checkpoint on revoke failed", exc_info=True)
        for tp in partitions:
            self._offsets.forget(tp.topic, tp.partition)
            self._tails.pop(tp.partition, None)
            self._states.pop(tp.partition, None)
        if self._on_revoked is not None:
            await self._on_revoked(self.topic, [tp.partition for tp in partitions])
        return points

    async def wait_idle(self) -> None:
        """Wait until every received record is handled."""
        await self._handlers.wait_idle()

    async def stop(self) -> None:
        """Drain, commit and leave the group. Idempotent."""
        if self._commit_handle is not None:
            self._commit_handle.cancel()
            self._commit_handle = None
        # Leaving the group runs _on_revoke, which drains and commits.
        await self._consumer.stop()
        # Whatever still waits is read again by the next owner; handlers cancelled
        # now must not start the next ones.
        self._stopping = True
        self._waiting.clear()
        await self._handlers.cancel()
