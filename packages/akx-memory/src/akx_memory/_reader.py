"""Reading a session's records from the memory topic into its :class:`SessionState`.

The hot path is the start-up replay, so a record costs as little as it can:

- records of other sessions are recognised by their key and skipped undecoded;
- own records coming back are recognised by their offset and not decoded again;
- content records written with the current schema are filed encoded (decoded when
  the contents are read); only clear markers, and records written with another
  schema version, are decoded on arrival.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from datetime import datetime

from confluent_kafka import Message

from akx_events import EventSerde, MemoryEvent
from akx_events.exceptions import EventDecodeError, UnknownSchemaError

from ._codec import FORM_HEADER, decode_content
from ._dead_letters import DeadLetters
from ._lag import ReplicationLag
from ._state import Change, SessionState

__all__ = ["SessionReader"]

logger = logging.getLogger("autogen_kafka_extension.memory.kafka_memory")

_SOURCE_HEADER = "ce_source"
_TIME_HEADER = "ce_time"


def _headers(message: Message) -> list[tuple[str, bytes | None]]:
    return message.headers() or []  # pyright: ignore[reportReturnType]


def _header(headers: list[tuple[str, bytes | None]], name: str) -> bytes | None:
    for key, value in reversed(headers):
        if key == name:
            return value
    return None


class SessionReader:
    """Applies the records of one session, in topic order, to a :class:`SessionState`.

    Args:
        session_id: the session.
        serde: a prepared (before the first record arrives) event serde.
        dead_letters: where unreadable records go.
        source: this instance's writer id; its own records are not lag samples.
    """

    def __init__(
        self, session_id: str, serde: EventSerde, dead_letters: DeadLetters, source: str
    ) -> None:
        self._session_id = session_id
        self._prefix = f"{session_id}/".encode("utf-8", "surrogatepass")
        self._serde = serde
        self._dead_letters = dead_letters
        self._source = source.encode()
        self._writer_prefix = b""
        self._partition = 0
        self._fetched_ids: set[int] = set()
        self._backlog: collections.deque[Message] = collections.deque()
        self._fetching: asyncio.Task[None] | None = None
        self._replay_end: int | None = None
        self.replayed = asyncio.Event()
        self.state = SessionState(self._decode_filed)
        self.lag = ReplicationLag()

    def replay_until(self, partition: int, low: int, high: int) -> None:
        """Consider the replay done once offset ``high - 1`` of ``partition`` is applied."""
        schema_id = self._serde.schema_id(MemoryEvent)
        self._writer_prefix = b"\x00" + schema_id.to_bytes(4, "big")
        self._partition = partition
        self._replay_end = high if high > low else 0
        self._check_replayed()

    def _check_replayed(self) -> None:
        end = self._replay_end
        if end is not None and not self.replayed.is_set() and self.state.position >= end:
            self.replayed.set()

    # -- batches ---------------------------------------------------------------------------

    def on_batch(self, messages: list[Message]) -> None:
        """Handle a batch of records (the consumer's callback, on the event loop)."""
        if self._backlog:
            self._backlog.extend(messages)
            return
        for i, message in enumerate(messages):
            try:
                self._handle(message)
            except UnknownSchemaError as exc:
                # Written with a schema registered after start (a newer writer): fetch
                # it, then go on in order from this record.
                self._backlog.extend(messages[i:])
                self._fetching = asyncio.get_running_loop().create_task(
                    self._fetch_schema(exc.schema_id)
                )
                return
        self._check_replayed()

    async def _fetch_schema(self, schema_id: int) -> None:
        delay = 0.1
        while True:
            try:
                await self._serde.prefetch(schema_id)
                break
            except Exception as exc:  # registry down: retry, never drop a good record
                logger.warning("cannot fetch schema id %s: %s; retrying", schema_id, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        # Fetched, or known not to be an event schema: decode or dead-letter now.
        self._fetched_ids.add(schema_id)
        waiting = list(self._backlog)
        self._backlog.clear()
        self.on_batch(waiting)

    async def stop(self) -> None:
        """Give up a schema fetch in progress."""
        task, self._fetching = self._fetching, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # -- one record ------------------------------------------------------------------------

    def _handle(self, message: Message) -> None:
        offset: int = message.offset()  # pyright: ignore[reportAssignmentType]
        key = message.key()
        if key is None or not key.startswith(self._prefix):
            self.state.skip(offset)  # another session: not even decoded
            return
        own = self.state.own_change_at(offset)
        if own is not None:
            self.state.apply(offset, own)
            return
        value = message.value()
        if key != self._prefix and value is not None and value.startswith(self._writer_prefix):
            # Headers are not even looked at here: that is left to the decoding.
            memory_id = key[len(self._prefix) :].decode("utf-8", "surrogatepass")
            self.state.file(memory_id, offset, message)
        else:
            self._apply_now(message, offset, key, value)
        if self.replayed.is_set():
            self._sample_lag(_headers(message))

    def _apply_now(self, message: Message, offset: int, key: bytes, value: bytes | None) -> None:
        headers = _headers(message)
        try:
            event = self._serde.decode(value, headers)
            change = self._change_from(event, key, headers)
        except UnknownSchemaError as exc:
            if exc.schema_id not in self._fetched_ids:
                raise  # on_batch fetches the schema and comes back to this record
            self._dead_letters.send((self._partition, offset, key), value, headers, exc)
            change = None
        except EventDecodeError as exc:
            self._dead_letters.send((self._partition, offset, key), value, headers, exc)
            change = None
        if change is None:
            self.state.skip(offset)
        else:
            self.state.apply(offset, change)

    def _decode_filed(self, memory_id: str, record: Message) -> Change | None:
        key = self._prefix + memory_id.encode("utf-8", "surrogatepass")
        value, headers = record.value(), _headers(record)
        try:
            event = self._serde.decode(value, headers)
            return self._change_from(event, key, headers)
        except EventDecodeError as exc:
            where = (self._partition, record.offset() or 0, key)
            self._dead_letters.send(where, value, headers, exc)
            return None

    def _change_from(
        self, event: object, key: bytes, headers: list[tuple[str, bytes | None]]
    ) -> Change | None:
        if not isinstance(event, MemoryEvent):
            raise EventDecodeError(f"a {type(event).__name__} on a memory topic")
        if event.session_id != self._session_id:
            return None  # a session whose id only shares our key prefix
        expected = self._prefix + (event.memory_id or "").encode("utf-8", "surrogatepass")
        if key != expected:
            raise EventDecodeError(f"record key {key!r} does not match its event ({expected!r})")
        if event.action == "clear":
            return Change(action="clear")
        if not event.memory_id:
            raise EventDecodeError(f"a {event.action} event without memory_id")
        if event.action == "delete":
            return Change(action="delete", memory_id=event.memory_id)
        content = decode_content(
            event.content, event.mime_type, event.metadata_json, _header(headers, FORM_HEADER)
        )
        return Change(action=event.action, memory_id=event.memory_id, content=content)

    def _sample_lag(self, headers: list[tuple[str, bytes | None]]) -> None:
        # From the CloudEvents headers, so that filed records need no decoding.
        source, written = _header(headers, _SOURCE_HEADER), _header(headers, _TIME_HEADER)
        if source == self._source or written is None:
            return
        try:
            moment = datetime.fromisoformat(written.decode().replace("Z", "+00:00"))
        except ValueError:
            return
        self.lag.record(time.time() - moment.timestamp())
