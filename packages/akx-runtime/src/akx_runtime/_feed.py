"""Decode consumed records in order on one task, without a task per record."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, cast

from confluent_kafka import Message

from akx_events import EventSerde, UnknownSchemaError

__all__ = ["OrderedFeed"]

logger = logging.getLogger("autogen_kafka_extension.runtimes.kafka_agent_runtime")

#: Called with each record and its decoded event (None when it was unreadable).
EventHandler = Callable[[Message, Any], None]


class OrderedFeed:
    """Queue batches from a consumer and handle their events strictly in order.

    Decoding is synchronous while the schema ids are known (the common case); a
    record written with a schema id this worker has not seen yet is decoded after
    fetching that schema, still in order.
    """

    def __init__(self, serde: EventSerde, handle: EventHandler, *, name: str) -> None:
        self._serde = serde
        self._handle = handle
        self._name = name
        self._queue: asyncio.Queue[list[Message]] = asyncio.Queue()
        self._task = asyncio.create_task(self._drain(), name=name)

    def push(self, batch: list[Message]) -> None:
        """Queue a batch (called on the event loop by the consumer)."""
        self._queue.put_nowait(batch)

    async def _drain(self) -> None:
        decode = self._serde.decode
        while True:
            batch = await self._queue.get()
            for message in batch:
                # The synchronous decode inline: a coroutine per record costs more than
                # the decode itself; only a new schema id takes the awaiting path.
                headers = cast("list[tuple[str, bytes | None]] | None", message.headers())
                try:
                    event = decode(message.value(), headers)
                except UnknownSchemaError:
                    event = await self._decode_fetching(message, headers)
                except Exception:
                    self._log_unreadable(message)
                    event = None
                try:
                    self._handle(message, event)
                except Exception:
                    logger.exception("%s: handling a record failed", self._name)

    async def _decode_fetching(
        self, message: Message, headers: list[tuple[str, bytes | None]] | None
    ) -> Any:
        try:
            return await self._serde.decode_async(message.value(), headers)
        except Exception:
            self._log_unreadable(message)
            return None

    def _log_unreadable(self, message: Message) -> None:
        logger.warning(
            "%s: skipping unreadable record %s[%s]@%s",
            self._name,
            message.topic(),
            message.partition(),
            message.offset(),
            exc_info=True,
        )

    async def aclose(self) -> None:
        """Stop handling. Idempotent."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
