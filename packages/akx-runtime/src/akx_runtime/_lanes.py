"""Per-agent lanes: one agent instance handles its messages one at a time, in order.

Records for different agents of a type are handled concurrently; records for one
``AgentId`` (always on one partition, key = agent key) are handled in offset order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["AgentLanes"]

logger = logging.getLogger("autogen_kafka_extension.runtimes.kafka_agent_runtime")

K = TypeVar("K")
W = TypeVar("W")


class AgentLanes(Generic[K, W]):
    """Run work items per key, sequentially within a key, concurrently across keys."""

    def __init__(self, handle: Callable[[W], Awaitable[None]]) -> None:
        self._handle = handle
        self._queues: dict[K, asyncio.Queue[W]] = {}
        self._tasks: dict[K, asyncio.Task[None]] = {}
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def busy(self) -> int:
        """Work items queued or running."""
        return self._busy

    def submit(self, key: K, item: W) -> None:
        """Queue ``item`` behind earlier items of ``key``."""
        queue = self._queues.get(key)
        if queue is None:
            queue = asyncio.Queue[W]()
            self._queues[key] = queue
            self._tasks[key] = asyncio.create_task(self._drain(key, queue))
        self._busy += 1
        self._idle.clear()
        queue.put_nowait(item)

    async def _drain(self, key: K, queue: asyncio.Queue[W]) -> None:
        try:
            while not queue.empty():
                item = queue.get_nowait()
                try:
                    await self._handle(item)
                except Exception:
                    logger.exception("unexpected error handling a message for %s", key)
                finally:
                    self._busy -= 1
                    if self._busy == 0:
                        self._idle.set()
        finally:
            # A lane with nothing queued goes away, so idle agents cost nothing.
            self._queues.pop(key, None)
            self._tasks.pop(key, None)

    async def wait_idle(self) -> None:
        """Wait until nothing is queued or running."""
        await self._idle.wait()

    async def cancel(self) -> None:
        """Cancel every lane (used when stopping after the drain timeout)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
