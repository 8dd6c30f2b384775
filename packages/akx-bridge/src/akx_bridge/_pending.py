"""Requests waiting for their reply, keyed by correlation id, each with its deadline."""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from .exceptions import BridgeTimeoutError

__all__ = ["BridgeStats", "PendingReplies"]

logger = logging.getLogger("autogen_kafka_extension.agent.kafka_streaming_agent")


@dataclass(frozen=True, kw_only=True)
class BridgeStats:
    """Counters of one bridge instance since it started.

    Attributes:
        requests: requests produced.
        replies: replies that completed a waiting request (errors included).
        timeouts: requests that got no reply in time.
        late_replies: replies for this instance that nobody waited for any more
            (after a timeout or cancellation, or a duplicate).
        foreign_replies: replies for other bridge instances sharing the response
            topic, skipped without decoding.
        remote_errors: error replies (``error-type`` header).
        malformed_replies: replies that could not be read.
        dead_lettered: records copied to the dead-letter topic.
    """

    requests: int = 0
    replies: int = 0
    timeouts: int = 0
    late_replies: int = 0
    foreign_replies: int = 0
    remote_errors: int = 0
    malformed_replies: int = 0
    dead_lettered: int = 0


class PendingReplies:
    """Futures of the requests in flight, and the counters of what happened to them.

    Correlation ids are ``<instance id>.<sequence>``: the instance id (random,
    per bridge instance) tells this instance's replies from those of other
    instances reading the same response topic without any lookup.
    """

    def __init__(self) -> None:
        self.instance_id = uuid.uuid4().hex[:16]
        self._prefix = self.instance_id + "."
        self.prefix_bytes = self._prefix.encode()
        self._sequence = itertools.count(1)
        self._waiting: dict[str, tuple[asyncio.Future[Any], asyncio.TimerHandle]] = {}
        self.counts: dict[str, int] = dict.fromkeys(BridgeStats.__dataclass_fields__, 0)

    def __len__(self) -> int:
        return len(self._waiting)

    def new_id(self) -> str:
        """A correlation id unique to this instance."""
        return f"{self._prefix}{next(self._sequence):x}"

    def owns(self, correlation_id: bytes) -> bool:
        """Whether ``correlation_id`` (as bytes) was made by this instance."""
        return correlation_id.startswith(self.prefix_bytes)

    def expect(self, correlation_id: str, topic: str, timeout: float) -> asyncio.Future[Any]:
        """A future for the reply, failed with :class:`BridgeTimeoutError` after ``timeout``."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        timer = loop.call_later(timeout, self._expire, correlation_id, topic, timeout)
        self._waiting[correlation_id] = (future, timer)
        future.add_done_callback(lambda _f: self._forget(correlation_id))
        return future

    def _expire(self, correlation_id: str, topic: str, timeout: float) -> None:
        entry = self._waiting.get(correlation_id)
        if entry is not None and not entry[0].done():
            self.counts["timeouts"] += 1
            entry[0].set_exception(BridgeTimeoutError(correlation_id, topic, timeout))

    def _forget(self, correlation_id: str) -> None:
        entry = self._waiting.pop(correlation_id, None)
        if entry is not None:
            entry[1].cancel()

    def waiting(self, correlation_id: str) -> asyncio.Future[Any] | None:
        """The future still waiting for ``correlation_id``; counts a late reply when none is."""
        entry = self._waiting.get(correlation_id)
        if entry is None or entry[0].done():
            self.counts["late_replies"] += 1
            logger.info("reply %s arrived after its caller stopped waiting", correlation_id)
            return None
        return entry[0]

    def settle(self, correlation_id: str, result: Any) -> None:
        """Complete the request with its reply, if it is still waiting."""
        entry = self._waiting.get(correlation_id)
        if entry is not None and not entry[0].done():
            self.counts["replies"] += 1
            entry[0].set_result(result)

    def fail(self, correlation_id: str, error: BaseException) -> None:
        """Fail the request, if it is still waiting."""
        entry = self._waiting.get(correlation_id)
        if entry is not None and not entry[0].done():
            entry[0].set_exception(error)

    def fail_all(self, error: BaseException) -> None:
        """Fail every waiting request (the bridge is closing)."""
        for future, _timer in list(self._waiting.values()):
            if not future.done():
                future.set_exception(error)

    def stats(self) -> BridgeStats:
        """A snapshot of the counters."""
        return BridgeStats(**self.counts)
