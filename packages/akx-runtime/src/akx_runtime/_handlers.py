"""Handlers in flight: each record's handler starts in arrival order and runs concurrently.

Records of one agent arrive in offset order (one ``AgentId`` always maps to one
partition), and their handlers start in that order, as in
``SingleThreadedAgentRuntime``. They are not serialized: an agent waiting on a call
that comes back to it (A calls B, B calls A) must not deadlock, and a slow handler
must not hold up the agent's other messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["InFlightHandlers"]

logger = logging.getLogger("autogen_kafka_extension.runtimes.kafka_agent_runtime")

W = TypeVar("W")


class InFlightHandlers(Generic[W]):
    """Start a handler task per work item, in submission order, and track them."""

    def __init__(self, handle: Callable[[W], Awaitable[None]]) -> None:
        self._handle = handle
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def busy(self) -> int:
        """Handlers not finished yet."""
        return len(self._tasks)

    def submit(self, item: W) -> None:
        """Start handling ``item``; tasks created in order start in order."""
        task = asyncio.create_task(self._run(item))
        self._tasks.add(task)
        self._idle.clear()
        task.add_done_callback(self._done)

    async def _run(self, item: W) -> None:
        try:
            await self._handle(item)
        except Exception:
            logger.exception("unexpected error handling a record")

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not self._tasks:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Wait until no handler is running."""
        await self._idle.wait()

    async def cancel(self) -> None:
        """Cancel every running handler (used when stopping after the drain timeout)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
