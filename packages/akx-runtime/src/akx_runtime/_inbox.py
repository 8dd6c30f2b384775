"""The reply inbox: futures of outgoing calls, settled by records on this worker's reply topic."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

__all__ = ["ReplyInbox"]

logger = logging.getLogger("autogen_kafka_extension.runtimes.kafka_agent_runtime")


class ReplyInbox:
    """Pending RPCs and publish acknowledgements, keyed by correlation id."""

    def __init__(self) -> None:
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self.late_replies = 0

    def __len__(self) -> int:
        return len(self._pending)

    def expect(self, correlation_id: str) -> asyncio.Future[Any]:
        """A future for the reply with this correlation id."""
        if correlation_id in self._pending:
            raise ValueError(f"a call with message id {correlation_id!r} is already pending")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = future
        self._idle.clear()
        future.add_done_callback(lambda _f: self._forget(correlation_id))
        return future

    def _forget(self, correlation_id: str) -> None:
        self._pending.pop(correlation_id, None)
        if not self._pending:
            self._idle.set()

    def settle(self, correlation_id: str, settle: Callable[[asyncio.Future[Any]], None]) -> bool:
        """Settle the pending future of ``correlation_id``; False for a late or stray reply."""
        future = self._pending.get(correlation_id)
        if future is None or future.done():
            self.late_replies += 1
            logger.info("reply %s arrived after its caller stopped waiting", correlation_id)
            return False
        settle(future)
        return True

    def fail_all(self, exc: BaseException) -> None:
        """Fail every pending future (the runtime is stopping)."""
        for future in list(self._pending.values()):
            if not future.done():
                future.set_exception(exc)

    async def wait_idle(self) -> None:
        """Wait until nothing is pending."""
        await self._idle.wait()
