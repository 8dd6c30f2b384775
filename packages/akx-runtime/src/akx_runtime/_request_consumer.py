"""The consumer of one agent type's request topic, shared through a consumer group.

Every worker hosting agent type ``T`` joins the group ``akx.<request_topic>.T``, so
each request is handled by exactly one of them, and adding a worker spreads the
partitions. Offsets are committed only after the request was handled and its reply
acknowledged by the broker; on revocation, in-flight records are drained and their
offsets committed before the partitions move on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from confluent_kafka import Message, TopicPartition

from akx_events._consumer import AsyncConsumer

from ._handlers import InFlightHandlers
from ._offsets import OffsetTracker

__all__ = ["RequestConsumer"]

logger = logging.getLogger("autogen_kafka_extension.runtimes.kafka_agent_runtime")

_COMMIT_DELAY = 0.05
_REVOKE_DRAIN_SECONDS = 20.0

#: Handles one record: the runtime decodes it, runs the agent and queues the reply.
#: It returns the reply's delivery future (or None); the record's offset is committed
#: only once that delivery is acknowledged, but the agent's next record need not wait.
RecordHandler = Callable[[Message], Awaitable["asyncio.Future[Any] | None"]]


class RequestConsumer:
    """Consume one agent type's requests and start a handler for each, in offset order."""

    def __init__(
        self,
        *,
        agent_type: str,
        topic: str,
        consumer_config: dict[str, Any],
        handle: RecordHandler,
    ) -> None:
        self.agent_type = agent_type
        self.topic = topic
        self._handle_record = handle
        self._offsets = OffsetTracker()
        self._handlers: InFlightHandlers[Message] = InFlightHandlers(self._run)
        self._commit_handle: asyncio.TimerHandle | None = None
        self._consumer = AsyncConsumer(
            consumer_config,
            self._on_batch,
            topics=[topic],
            on_revoke=self._on_revoke,
            name=f"akx-requests-{agent_type}",
        )

    @property
    def busy(self) -> int:
        """Records received and not yet handled."""
        return self._handlers.busy

    async def start(self) -> None:
        """Join the group and start consuming."""
        await self._consumer.start()

    def _on_batch(self, messages: list[Message]) -> None:
        for message in messages:
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            assert topic is not None and partition is not None and offset is not None
            self._offsets.started(topic, partition, offset)
            self._handlers.submit(message)

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
        self._schedule_commit()

    def _schedule_commit(self) -> None:
        if self._commit_handle is None:
            loop = asyncio.get_running_loop()
            self._commit_handle = loop.call_later(_COMMIT_DELAY, self._commit)

    def _commit(self) -> None:
        self._commit_handle = None
        self._consumer.commit(self._offsets.commit_points())

    async def _on_revoke(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
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
        for tp in partitions:
            self._offsets.forget(tp.topic, tp.partition)
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
        await self._handlers.cancel()
