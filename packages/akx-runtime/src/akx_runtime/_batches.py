"""Items made during one event-loop iteration, written together per destination.

Under load a worker handles a consumer batch of requests in one loop iteration; what each
of them writes to the same place (a journal partition, a publisher's reply topic) can go
in one record instead of one each. An item's future completes with the delivery of the
record that carried it, so the callers' logic stays per item. With one item in flight
nothing waits: the record goes out at the end of the same iteration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from confluent_kafka import Message

__all__ = ["LoopBatches", "Writer"]

K = TypeVar("K")
E = TypeVar("E")

#: Writes one record for ``items`` going to ``key``; returns its delivery future.
Writer = Callable[[K, list[E]], "asyncio.Future[Message]"]


class LoopBatches(Generic[K, E]):
    """Collects items per key until the end of the loop iteration, then writes them.

    Args:
        write: makes and produces the record of one batch.
        split: cuts the items of one key into consecutive batches, in order (by default:
            all in one).
    """

    def __init__(
        self,
        write: Writer[K, E],
        *,
        split: Callable[[list[E]], Iterable[list[E]]] | None = None,
    ) -> None:
        self._write = write
        self._split: Callable[[list[E]], Iterable[list[E]]] = split or _whole
        self._waiting: dict[K, list[tuple[E, asyncio.Future[Message]]]] = {}
        self._flush_pending = False

    def add(self, key: K, item: E) -> asyncio.Future[Message]:
        """Queue ``item``; the future completes with its record's delivery."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Message] = loop.create_future()
        self._waiting.setdefault(key, []).append((item, future))
        if not self._flush_pending:
            self._flush_pending = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._flush_pending = False
        waiting, self._waiting = self._waiting, {}
        for key, queued in waiting.items():
            start = 0
            for batch in self._split([item for item, _ in queued]):
                end = start + len(batch)
                self._write_batch(key, batch, [future for _, future in queued[start:end]])
                start = end

    def _write_batch(self, key: K, batch: list[E], futures: list[asyncio.Future[Message]]) -> None:
        try:
            delivery = self._write(key, batch)
        except Exception as exc:
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
            return
        delivery.add_done_callback(lambda d: _pass_on(d, futures))


def _whole(items: list[E]) -> list[list[E]]:
    return [items]


def _pass_on(delivery: asyncio.Future[Message], futures: list[asyncio.Future[Message]]) -> None:
    """Give every item's future the outcome of the record that carried it."""
    for future in futures:
        if future.done():
            continue
        if delivery.cancelled():
            future.cancel()
        elif (error := delivery.exception()) is not None:
            future.set_exception(error)
        else:
            future.set_result(delivery.result())
