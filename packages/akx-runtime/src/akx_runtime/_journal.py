"""The journal of an agent type: which requests were handled, and what was answered.

Offsets are committed a moment after replies are sent. A worker that dies in between
leaves records the next owner would run again although their callers already have
the answer, so each handled request is journaled before its reply is sent:

* a *done* entry in partition ``p`` of ``<request topic>.journal`` (``p`` is the
  request's own partition) carries the request's offset, the encoded reply and where
  it goes, and the agent's state when states are checkpointed. The done entries made
  in one loop iteration for one partition share a record (a *done pack*: MessagePack,
  see :class:`DoneEntry`): one write instead of one per request under load;
* before offsets are committed, a *checkpoint* record names the commit point and the
  offsets above it that are already handled.

A worker given partition ``p`` reads the journal's partition ``p`` back to its last
checkpoint. Records below that commit point, or listed as handled, are skipped; a
record with a done record after the checkpoint is not run again either: its stored
reply is sent once more (callers ignore a second copy). Only a handler that finished
but whose done record never reached the broker can run twice.

Records of the two earlier layouts are still read: one done entry per record with its
fields in headers (``done``), and Avro done batches (``done-batch``). MessagePack
replaced Avro for the batches because fastavro writes each nested record through its
generic union and record machinery: 35-65 us per entry with a reply's nine headers,
the largest single cost of a journaled request; MessagePack packs the same entry in
about 2 us.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

import fastavro
import msgpack  # pyright: ignore[reportMissingTypeStubs]
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from akx_events._producer import AsyncProducer

from ._batches import LoopBatches

__all__ = [
    "DoneEntry",
    "Journal",
    "JournalTail",
    "StoredReply",
    "done_entries",
    "journal_topic",
    "read_journal",
    "read_states",
    "unpack_done",
]

logger = logging.getLogger("autogen_kafka_extension.runtimes.kafka_agent_runtime")

JOURNAL_SUFFIX = ".journal"
KIND_HEADER = "akx-journal"
OFFSET_HEADER = "akx-offset"
REPLY_TO_HEADER = "akx-reply-to"
REPLY_KEY_HEADER = "akx-reply-key"
STATE_HEADER = "akx-state"
_DONE = b"done"
_DONE_BATCH = b"done-batch"
_DONE_PACK = b"done-pack"
_CHECKPOINT = b"checkpoint"
#: Most bytes of replies and states in one done batch (records stay far below 1 MB).
_BATCH_BYTES = 256 * 1024

_DONE_BATCH_SCHEMA: Any = fastavro.parse_schema(
    {
        "type": "record",
        "name": "io.akx.journal.DoneBatch",
        "fields": [
            {
                "name": "entries",
                "type": {
                    "type": "array",
                    "items": {
                        "type": "record",
                        "name": "io.akx.journal.Done",
                        "fields": [
                            {"name": "offset", "type": "long"},
                            {"name": "key", "type": ["null", "bytes"]},
                            {"name": "reply_to", "type": ["null", "string"]},
                            {"name": "reply_key", "type": ["null", "bytes"]},
                            {"name": "reply_value", "type": ["null", "bytes"]},
                            {
                                "name": "reply_headers",
                                "type": {
                                    "type": "array",
                                    "items": {
                                        "type": "record",
                                        "name": "io.akx.journal.Header",
                                        "fields": [
                                            {"name": "name", "type": "string"},
                                            {"name": "value", "type": ["null", "bytes"]},
                                        ],
                                    },
                                },
                            },
                            {"name": "state", "type": ["null", "bytes"]},
                        ],
                    },
                },
            }
        ],
    }
)
_pack = cast("Callable[[Any], bytes]", cast(Any, msgpack).packb)
_unpack = cast("Callable[..., Any]", cast(Any, msgpack).unpackb)
_read_batch = cast("Callable[..., Any]", cast(Any, fastavro).schemaless_reader)
_OWN_HEADERS = frozenset(
    {KIND_HEADER, OFFSET_HEADER, REPLY_TO_HEADER, REPLY_KEY_HEADER, STATE_HEADER}
)

Headers = Sequence[tuple[str, "bytes | None"]]


@dataclass(frozen=True)
class StoredReply:
    """A reply kept in the journal, ready to be sent again."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


class DoneEntry(NamedTuple):
    """One handled request in a done pack, packed as a MessagePack array in this order."""

    offset: int
    key: bytes | None
    reply_to: str | None
    reply_key: bytes | None
    reply_value: bytes | None
    reply_headers: list[tuple[str, bytes | None]]
    state: bytes | None

    def reply(self) -> StoredReply | None:
        """The stored reply, when the request was answered."""
        if self.reply_to is None:
            return None
        return StoredReply(
            topic=self.reply_to,
            key=self.reply_key,
            value=self.reply_value,
            headers=self.reply_headers,
        )


@dataclass
class JournalTail:
    """What the journal says about one request partition since its last checkpoint.

    Attributes:
        commit_point: every record below this offset was handled (-1: no checkpoint).
        handled: offsets handled after the checkpoint or listed by it.
        replies: stored replies of records handled after the checkpoint.
        states: the newest state (JSON) of each agent key found after the checkpoint.
    """

    commit_point: int = -1
    handled: set[int] = field(default_factory=set[int])
    replies: dict[int, StoredReply] = field(default_factory=dict[int, StoredReply])
    states: dict[str, bytes] = field(default_factory=dict[str, bytes])

    def is_handled(self, offset: int) -> bool:
        """Whether the request at ``offset`` was handled by an earlier owner."""
        return offset < self.commit_point or offset in self.handled


def journal_topic(request_topic: str) -> str:
    """The journal topic of a request topic."""
    return request_topic + JOURNAL_SUFFIX


class Journal:
    """Writes done and checkpoint records of one request topic."""

    def __init__(self, producer: AsyncProducer, request_topic: str) -> None:
        self._producer = producer
        self.topic = journal_topic(request_topic)
        # Done entries of one loop iteration share a record per partition.
        self._batches: LoopBatches[int, DoneEntry] = LoopBatches(self._write, split=_by_size)

    def handled(
        self,
        *,
        partition: int,
        offset: int,
        key: bytes | None,
        reply: StoredReply | None,
        state: bytes | None = None,
    ) -> asyncio.Future[Message]:
        """Queue the done entry of a request; returns the delivery future of its record."""
        if reply is None:
            entry = DoneEntry(offset, key, None, None, None, [], state)
        else:
            entry = DoneEntry(
                offset, key, reply.topic, reply.key, reply.value, reply.headers, state
            )
        return self._batches.add(partition, entry)

    def _write(self, partition: int, entries: list[DoneEntry]) -> asyncio.Future[Message]:
        return self._producer.produce(
            self.topic, _pack(entries), headers=[(KIND_HEADER, _DONE_PACK)], partition=partition
        )

    def checkpoint(
        self,
        *,
        partition: int,
        commit_point: int,
        handled: Iterable[int],
        since: int | None,
    ) -> Any:
        """Queue a checkpoint record; returns its delivery future.

        Args:
            partition: the request (and journal) partition.
            commit_point: the offset about to be committed.
            handled: offsets above it whose requests are handled and replied to.
            since: journal offset of the oldest done record whose reply is not yet
                acknowledged (None when there is none).
        """
        body = json.dumps(
            {"commit": commit_point, "handled": sorted(handled), "since": since}
        ).encode()
        return self._producer.produce(
            self.topic, body, headers=[(KIND_HEADER, _CHECKPOINT)], partition=partition
        )


def _by_size(entries: list[DoneEntry]) -> Iterable[list[DoneEntry]]:
    """Consecutive batches of at most ``_BATCH_BYTES`` of replies and states (or one entry)."""
    batch: list[DoneEntry] = []
    size = 0
    for entry in entries:
        weight = len(entry.reply_value or b"") + len(entry.state or b"")
        if batch and size + weight > _BATCH_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += weight
    if batch:
        yield batch


def _header(headers: Headers, name: str) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def _checkpoint_body(message: Message) -> tuple[int, set[int], int | None] | None:
    """Commit point, handled offsets and ``since`` of a checkpoint record."""
    try:
        body = json.loads(message.value() or b"")
        since = body.get("since")
        return (
            int(body["commit"]),
            {int(o) for o in body["handled"]},
            int(since) if since is not None else None,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        logger.warning("unreadable journal checkpoint at offset %s", message.offset())
        return None


def _kind(message: Message) -> bytes | None:
    headers: Headers = message.headers() or []  # pyright: ignore[reportAssignmentType]
    return _header(headers, KIND_HEADER)


def _apply(tail: JournalTail, message: Message) -> None:
    """Fold one journal record (read in order) into ``tail``."""
    headers: Headers = message.headers() or []  # pyright: ignore[reportAssignmentType]
    kind = _header(headers, KIND_HEADER)
    if kind == _CHECKPOINT:
        body = _checkpoint_body(message)
        if body is None:
            return
        commit_point, handled, _since = body
        tail.commit_point = max(tail.commit_point, commit_point)
        # Done records above the commit point stay: their replies may not have landed.
        tail.handled = {o for o in tail.handled | handled if o >= tail.commit_point}
        tail.replies = {o: r for o, r in tail.replies.items() if o >= tail.commit_point}
        return
    if kind in (_DONE_PACK, _DONE_BATCH):
        _apply_batch(tail, message)
        return
    if kind != _DONE:
        return
    raw_offset = _header(headers, OFFSET_HEADER)
    try:
        offset = int(raw_offset or b"")
    except ValueError:
        logger.warning("journal record without a request offset at %s", message.offset())
        return
    reply_to = _header(headers, REPLY_TO_HEADER)
    reply = (
        StoredReply(
            topic=reply_to.decode(),
            key=_header(headers, REPLY_KEY_HEADER),
            value=message.value(),
            headers=[(k, v) for k, v in headers if k not in _OWN_HEADERS],
        )
        if reply_to
        else None
    )
    _fold_done(tail, offset, reply, message.key(), _header(headers, STATE_HEADER))


def _fold_done(
    tail: JournalTail,
    offset: int,
    reply: StoredReply | None,
    agent_key: bytes | None,
    state: bytes | None,
) -> None:
    """Fold one done entry (of a single-entry record or of a batch) into ``tail``."""
    tail.handled.add(offset)
    if reply is not None:
        tail.replies[offset] = reply
    if state is not None and agent_key is not None:
        tail.states[agent_key.decode("utf-8", "replace")] = state


def done_entries(message: Message) -> list[DoneEntry]:
    """The entries of a done pack or Avro done batch (empty for any other record).

    Raises:
        ValueError: the record says it holds done entries but its body does not decode
            to them.
    """
    headers: Headers = message.headers() or []  # pyright: ignore[reportAssignmentType]
    kind = _header(headers, KIND_HEADER)
    if kind == _DONE_PACK:
        return unpack_done(message.value() or b"")
    if kind != _DONE_BATCH:
        return []
    try:
        body = _read_batch(io.BytesIO(message.value() or b""), _DONE_BATCH_SCHEMA, None)
        return [
            DoneEntry(
                e["offset"],
                e["key"],
                e["reply_to"],
                e["reply_key"],
                e["reply_value"],
                [(h["name"], h["value"]) for h in e["reply_headers"]],
                e["state"],
            )
            for e in body["entries"]
        ]
    except Exception as exc:  # fastavro fails in many ways on bad bytes
        raise ValueError(f"unreadable done batch: {type(exc).__name__}: {exc}") from exc


def unpack_done(body: bytes) -> list[DoneEntry]:
    """The entries of a done pack's body.

    Raises:
        ValueError: ``body`` is not a MessagePack array of done entries; the message
            names the first thing that does not fit.
    """
    try:
        items = _unpack(body, raw=False)
    except Exception as exc:  # msgpack fails in several ways on bad bytes
        raise ValueError(f"unreadable done pack: {type(exc).__name__}: {exc}") from exc
    if not isinstance(items, list):
        raise ValueError(f"done pack holds {type(items).__name__}, not an array of entries")
    return [_done_entry(n, item) for n, item in enumerate(cast("list[Any]", items))]


def _done_entry(n: int, item: Any) -> DoneEntry:
    if not isinstance(item, list) or len(cast("list[Any]", item)) != len(DoneEntry._fields):
        raise ValueError(f"done pack entry {n} is not an array of {len(DoneEntry._fields)}")
    offset, key, reply_to, reply_key, reply_value, headers, state = cast("list[Any]", item)
    if type(offset) is not int or offset < 0:
        raise ValueError(f"done pack entry {n} has offset {offset!r}")
    for name, value, kind in (
        ("key", key, bytes),
        ("reply_to", reply_to, str),
        ("reply_key", reply_key, bytes),
        ("reply_value", reply_value, bytes),
        ("state", state, bytes),
    ):
        if value is not None and not isinstance(value, kind):
            raise ValueError(f"done pack entry {n} has {name} {value!r:.40}")
    if not isinstance(headers, list):
        raise ValueError(f"done pack entry {n} has reply headers {headers!r:.40}")
    pairs: list[tuple[str, bytes | None]] = []
    for header in cast("list[Any]", headers):
        if (
            not isinstance(header, list)
            or len(cast("list[Any]", header)) != 2
            or not isinstance(header[0], str)
            or not (header[1] is None or isinstance(header[1], bytes))
        ):
            raise ValueError(f"done pack entry {n} has reply header {header!r:.40}")
        pairs.append((header[0], header[1]))
    return DoneEntry(offset, key, reply_to, reply_key, reply_value, pairs, state)


def _apply_batch(tail: JournalTail, message: Message) -> None:
    try:
        entries = done_entries(message)
    except ValueError as exc:
        logger.warning("journal record at offset %s skipped: %s", message.offset(), exc)
        return
    for entry in entries:
        _fold_done(tail, entry.offset, entry.reply(), entry.key, entry.state)


def _reader(config: dict[str, Any], group: str) -> Consumer:
    """A consumer that reads assigned partitions to their end and commits nothing."""
    # librdkafka wants a group id even for a consumer that never joins its group.
    settings = {**config, "enable.auto.commit": False, "enable.partition.eof": True}
    settings["group.id"] = group
    return Consumer(settings)


def read_journal(
    config: dict[str, Any],
    topic: str,
    partitions: Sequence[int],
    *,
    timeout: float = 20.0,
    chunk: int = 32,
) -> dict[int, JournalTail]:
    """Read each partition back to its last checkpoint (blocking: call from a thread).

    Args:
        config: librdkafka consumer settings (no group is joined).
        topic: the journal topic.
        partitions: the partitions to read.
        timeout: seconds the whole read may take.
        chunk: records read at first from the end; doubled at each step back towards
            the last checkpoint. Small, because a checkpoint precedes every commit
            (every ~50 ms under load, and last when a worker stops cleanly), while a done
            record can hold 256 KB: reading the last 2,000 records of a long-lived journal
            took over 20 s on the embedded broker.

    Raises:
        KafkaException: the broker did not answer in time.
    """
    consumer = _reader(config, "akx-journal-reader")
    deadline = time.monotonic() + timeout
    try:
        return {
            p: _read_partition(consumer, topic, p, deadline=deadline, chunk=chunk)
            for p in partitions
        }
    finally:
        consumer.close()


def _read_partition(
    consumer: Consumer, topic: str, partition: int, *, deadline: float, chunk: int
) -> JournalTail:
    low, high = consumer.get_watermark_offsets(
        TopicPartition(topic, partition), timeout=max(0.1, deadline - time.monotonic())
    )
    # Step back from the end until the last checkpoint is in what was read.
    start = max(low, high - chunk)
    records = _read_from(consumer, topic, partition, start, deadline=deadline)
    while start > low and not any(_kind(m) == _CHECKPOINT for m in records):
        chunk *= 2
        earlier = max(low, start - chunk)
        records = _read_from(consumer, topic, partition, earlier, deadline=deadline)
        start = earlier
    # Done records written before that checkpoint whose replies were still in flight
    # begin at its "since" offset.
    last = next((m for m in reversed(records) if _kind(m) == _CHECKPOINT), None)
    body = _checkpoint_body(last) if last is not None else None
    since = body[2] if body is not None else None
    if since is not None and low <= since < start:
        records = _read_from(consumer, topic, partition, since, deadline=deadline)
    tail = JournalTail()
    for message in records:
        _apply(tail, message)
    return tail


def _read_from(
    consumer: Consumer, topic: str, partition: int, start: int, *, deadline: float
) -> list[Message]:
    """Every record from ``start`` to the end of the partition.

    The end is where the broker reports end-of-partition, not the high watermark read
    beforehand: the embedded broker under-reports it after a multi-record batch.
    """
    records: list[Message] = []
    consumer.assign([TopicPartition(topic, partition, start)])
    try:
        while True:
            if time.monotonic() > deadline:
                raise KafkaException(f"reading journal {topic}[{partition}] timed out")
            message = consumer.poll(0.2)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() == error._PARTITION_EOF:  # pyright: ignore[reportPrivateUsage]
                    return records
                raise KafkaException(error)
            records.append(message)
    finally:
        consumer.unassign()


def read_states(
    config: dict[str, Any], topic: str, partitions: Sequence[int], *, timeout: float = 20.0
) -> dict[int, dict[str, bytes]]:
    """The newest state record of each agent key in a compacted state topic.

    Blocking: call from a thread. Values are the state as JSON; a record with an empty
    value marks a state that was removed.
    """
    consumer = _reader(config, "akx-state-reader")
    deadline = time.monotonic() + timeout
    found: dict[int, dict[str, bytes]] = {}
    try:
        for p in partitions:
            low, _high = consumer.get_watermark_offsets(
                TopicPartition(topic, p), timeout=max(0.1, deadline - time.monotonic())
            )
            states: dict[str, bytes] = {}
            for message in _read_from(consumer, topic, p, low, deadline=deadline):
                key, value = message.key(), message.value()
                if key is None:
                    continue
                if value:
                    states[key.decode("utf-8", "replace")] = value
                else:
                    states.pop(key.decode("utf-8", "replace"), None)
            found[p] = states
    finally:
        consumer.close()
    return found
