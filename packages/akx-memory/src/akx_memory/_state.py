"""The contents of one memory session: the topic's changes in order, plus own writes in flight.

Every instance of a session applies the same records of the topic in the same order
with the same rules, so they all end with the same contents:

- ``add`` and ``update`` set the entry (an update of a missing id creates it; that
  is what a compacted topic keeps anyway) and move it to the end of the order;
- ``delete`` removes the entry, ``clear`` removes every entry;
- a record that cannot be read, or belongs to another session, changes nothing.

These are the rules under which compaction (keeping only the latest record of each
key, the clear marker having a key of its own) does not change the outcome.

Content records are kept encoded until the contents are first read (as a Kafka
Streams state store keeps bytes): a replay only files each record under its key,
and reading decodes the newest record of each key once. The result is the same as
decoding every record in order, because only the newest readable record of a key
since its last delete or clear decides the entry.

Read-your-writes: a write acknowledged by the broker sits at a known offset. Until
the consumer reaches that offset it is *pending*, laid over the applied state in
offset order; when the consumer reaches it, it moves into the applied state, which
leaves the visible contents unchanged.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from autogen_core.memory import MemoryContent
from confluent_kafka import Message

from akx_events import MemoryAction

__all__ = ["Change", "Decoder", "SessionState"]


@dataclass(frozen=True, slots=True)
class Change:
    """One change to a session.

    Attributes:
        action: ``add``, ``update``, ``delete`` or ``clear``.
        memory_id: the entry changed; ``None`` for ``clear``.
        content: the new content for ``add``/``update``.
    """

    action: MemoryAction
    memory_id: str | None = None
    content: MemoryContent | None = None


#: Decodes a filed record of an entry: its change, or ``None`` if it must be ignored.
Decoder = Callable[[str, Message], Change | None]


class _Entry:
    __slots__ = ("content", "offset", "records")

    def __init__(
        self, content: MemoryContent | None, offset: int, records: list[Message] | None = None
    ) -> None:
        self.content = content  # the last decoded content, if any
        self.offset = offset  # offset of the record that set ``content``
        self.records: list[Message] = records or []  # newer records, not decoded yet


class SessionState:
    """Entries of one session as the topic defines them, with own writes not yet read back.

    Args:
        decode: turns a filed record into its change (and deals with bad records).
    """

    def __init__(self, decode: Decoder) -> None:
        self._decode = decode
        # Ordered by the offset of each entry's newest record. An entry known only from
        # one filed record is that bare record: the replay allocates nothing per record.
        self._entries: dict[str, _Entry | Message] = {}
        self._encoded: set[str] = set()  # ids with records not decoded yet
        self._pending_offsets: list[int] = []
        self._pending: dict[int, Change] = {}
        self._position = 0
        self._visible: dict[str, MemoryContent] | None = None
        self._version = 0

    @property
    def position(self) -> int:
        """The next offset the consumer will hand over (one past the last one read)."""
        return self._position

    @property
    def version(self) -> int:
        """A number that changes whenever the visible contents may have changed."""
        return self._version

    @property
    def pending_count(self) -> int:
        """Own acknowledged writes the consumer has not read back yet."""
        return len(self._pending)

    @property
    def encoded_count(self) -> int:
        """Entries with records that are not decoded yet."""
        return len(self._encoded)

    def _changed(self) -> None:
        self._version += 1
        self._visible = None

    def _moved_to(self, offset: int) -> None:
        self._position = offset + 1
        offsets = self._pending_offsets
        if offsets and offsets[0] <= offset:
            # Own records the consumer passed without handing over (never expected,
            # but a write must not stay pending forever).
            cut = bisect.bisect_right(offsets, offset)
            for stale in offsets[:cut]:
                self._pending.pop(stale, None)
            del offsets[:cut]
            self._changed()

    # -- records from the topic -------------------------------------------------------------

    def skip(self, offset: int) -> None:
        """The record at ``offset`` changes nothing in this session."""
        self._moved_to(offset)

    def own_change_at(self, offset: int) -> Change | None:
        """The pending own write at ``offset``, if this instance wrote that record."""
        return self._pending.get(offset)

    def apply(self, offset: int, change: Change) -> None:
        """Apply a decoded record of the session at ``offset``, in topic order."""
        if change.action == "clear":
            self._entries.clear()
            self._encoded.clear()
        else:
            memory_id = change.memory_id
            assert memory_id is not None
            self._entries.pop(memory_id, None)
            self._encoded.discard(memory_id)
            if change.action != "delete":
                self._entries[memory_id] = _Entry(change.content, offset)
        if self._pending_offsets[:1] == [offset]:
            # Our own write, already laid over the applied state in this order: the
            # visible contents stay the same.
            self._pending_offsets.pop(0)
            del self._pending[offset]
            self._position = offset + 1
            return
        self._changed()
        self._moved_to(offset)

    def file(self, memory_id: str, offset: int, record: Message) -> None:
        """File the record at ``offset`` for ``memory_id``, to decode when the contents are read.

        The record may be any change of that entry but a clear marker.
        """
        # The replay's hot path: kept to dictionary and set operations.
        entries = self._entries
        entry = entries.pop(memory_id, None)
        if entry is None:
            entries[memory_id] = record
        elif type(entry) is _Entry:
            entry.records.append(record)
            entries[memory_id] = entry
        else:
            entries[memory_id] = _Entry(None, -1, [cast(Message, entry), record])
        self._encoded.add(memory_id)
        self._version += 1
        self._visible = None
        self._position = offset + 1
        if self._pending_offsets and self._pending_offsets[0] <= offset:
            self._moved_to(offset)

    # -- own writes -------------------------------------------------------------------------

    def acknowledged(self, offset: int, change: Change) -> None:
        """An own write was acknowledged at ``offset``; show it until it is read back."""
        if offset < self._position:
            return  # the consumer already applied it
        bisect.insort(self._pending_offsets, offset)
        self._pending[offset] = change
        self._changed()

    # -- reading ----------------------------------------------------------------------------

    def decode_some(self, limit: int) -> bool:
        """Decode the filed records of up to ``limit`` entries; whether none are left."""
        reorder = False
        for _ in range(min(limit, len(self._encoded))):
            memory_id = self._encoded.pop()
            found = self._entries[memory_id]
            entry = found if type(found) is _Entry else _Entry(None, -1, [cast(Message, found)])
            newest = entry.records[-1].offset()
            if not self._resolve(memory_id, entry):
                del self._entries[memory_id]
                continue
            self._entries[memory_id] = entry
            if entry.offset != newest:
                reorder = True  # the newest record was unreadable: an older one decides
        if reorder:
            # Every entry is decoded by now (a reorder needs a finished pass to be exact).
            self.decode_some(len(self._encoded))
            ordered = sorted(self._entries.items(), key=lambda item: cast(_Entry, item[1]).offset)
            self._entries = dict(ordered)
        return not self._encoded

    def _resolve(self, memory_id: str, entry: _Entry) -> bool:
        records, entry.records = entry.records, []
        for record in reversed(records):
            change = self._decode(memory_id, record)
            if change is None:
                continue
            if change.action == "delete" or change.content is None:
                return False
            entry.content, entry.offset = change.content, record.offset() or 0
            return True
        return entry.content is not None

    def visible(self) -> dict[str, MemoryContent]:
        """The contents as this instance shows them: applied changes plus pending writes.

        Decodes every filed record first. The returned mapping must not be modified;
        it is cached until the next change.
        """
        if self._encoded:
            self.decode_some(len(self._encoded))
        if self._visible is None:
            entries: dict[str, MemoryContent] = {}
            for memory_id, entry in self._entries.items():
                assert type(entry) is _Entry and entry.content is not None
                entries[memory_id] = entry.content
            for offset in self._pending_offsets:
                change = self._pending[offset]
                if change.action == "clear":
                    entries.clear()
                    continue
                assert change.memory_id is not None
                entries.pop(change.memory_id, None)
                if change.action != "delete" and change.content is not None:
                    entries[change.memory_id] = change.content
            self._visible = entries
        return self._visible
