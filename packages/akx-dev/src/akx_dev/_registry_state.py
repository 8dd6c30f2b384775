"""The development Schema Registry's in-memory state and the log records that build it.

Every change is one record on the registry's Kafka topic. A record's key names
the thing it is about, its value holds that thing's whole new state, so replaying
the topic from the start (or applying a record twice) gives the same state, and a
compacted topic keeps what matters. The embedded broker drops null values, so a
removal is a ``{"removed": true}`` marker rather than a tombstone.

Records (keys carry ``"akx": 1`` so records from other writers are ignored):

- ``{"keytype": "ID", "id": N}`` → ``{"schema": canonical_text}``: an id was assigned.
  Ids are never forgotten, so a schema keeps its id even after a permanent delete.
- ``{"keytype": "SCHEMA", "subject": S, "version": V}`` →
  ``{"id": N, "deleted": bool}`` or ``{"removed": true}`` (permanent delete).
- ``{"keytype": "CONFIG", "subject": S or null}`` → ``{"compatibilityLevel": L}`` or
  ``{"removed": true}``; subject ``null`` is the global level.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ._registry_compat import DEFAULT_COMPATIBILITY

__all__ = [
    "Record",
    "RegistryState",
    "SubjectVersion",
    "decode_record",
    "encode",
    "id_record",
    "level_record",
    "version_record",
]

_MARK = 1
_REMOVED: dict[str, Any] = {"removed": True}

Record = tuple[dict[str, Any], dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class SubjectVersion:
    """One version of a subject: which schema id it points at, and whether soft-deleted."""

    subject: str
    version: int
    schema_id: int
    deleted: bool = False


def decode_record(key: bytes | None, value: bytes | None) -> Record | None:
    """Decode a record read from the topic, or return ``None`` when it is not ours."""
    try:
        decoded_key, decoded_value = json.loads(key or b""), json.loads(value or b"")
    except ValueError:
        return None
    if not isinstance(decoded_key, dict) or not isinstance(decoded_value, dict):
        return None
    if decoded_key.get("akx") != _MARK:  # pyright: ignore[reportUnknownMemberType]
        return None
    return decoded_key, decoded_value  # pyright: ignore[reportUnknownVariableType]


def encode(part: dict[str, Any]) -> bytes:
    """Encode a record key or value; sorted keys make equal keys equal bytes for compaction."""
    return json.dumps(part, sort_keys=True, separators=(",", ":")).encode()


class RegistryState:
    """Schemas, subject versions and compatibility levels, rebuilt from the log.

    Not thread-safe by itself: the store applies records and the HTTP handlers
    read under one lock.
    """

    def __init__(self) -> None:
        self.schemas: dict[int, str] = {}
        self.ids: dict[str, int] = {}
        self.subjects: dict[str, dict[int, SubjectVersion]] = {}
        self.levels: dict[str | None, str] = {}

    def apply(self, key: dict[str, Any], value: dict[str, Any]) -> None:
        """Apply one decoded record; unknown record types are ignored."""
        removed = bool(value.get("removed"))
        keytype = key.get("keytype")
        if keytype == "ID":
            self.schemas[key["id"]] = value["schema"]
            self.ids[value["schema"]] = key["id"]
        elif keytype == "SCHEMA":
            versions = self.subjects.setdefault(key["subject"], {})
            if removed:
                versions.pop(key["version"], None)
                if not versions:
                    del self.subjects[key["subject"]]
            else:
                versions[key["version"]] = SubjectVersion(
                    subject=key["subject"],
                    version=key["version"],
                    schema_id=value["id"],
                    deleted=bool(value.get("deleted")),
                )
        elif keytype == "CONFIG":
            if removed:
                self.levels.pop(key["subject"], None)
            else:
                self.levels[key["subject"]] = value["compatibilityLevel"]

    # Queries -------------------------------------------------------------------

    def versions(self, subject: str, *, deleted: bool = False) -> list[SubjectVersion]:
        """The subject's versions, oldest first; soft-deleted ones only when ``deleted``."""
        entries = sorted(self.subjects.get(subject, {}).values(), key=lambda e: e.version)
        return [entry for entry in entries if deleted or not entry.deleted]

    def level(self, subject: str | None) -> str:
        """The compatibility level in force for a subject (or the global one for ``None``)."""
        if subject is not None and subject in self.levels:
            return self.levels[subject]
        return self.levels.get(None, DEFAULT_COMPATIBILITY)

    def next_id(self) -> int:
        """The id for a schema never seen before: ids are never reused."""
        return max(self.schemas, default=0) + 1


def id_record(schema_id: int, canonical: str) -> Record:
    """The record assigning ``schema_id`` to a schema."""
    return {"akx": _MARK, "keytype": "ID", "id": schema_id}, {"schema": canonical}


def version_record(entry: SubjectVersion, *, removed: bool = False) -> Record:
    """The record storing (or permanently removing) a subject version."""
    key: dict[str, Any] = {
        "akx": _MARK,
        "keytype": "SCHEMA",
        "subject": entry.subject,
        "version": entry.version,
    }
    value = _REMOVED if removed else {"id": entry.schema_id, "deleted": entry.deleted}
    return key, value


def level_record(subject: str | None, level: str | None) -> Record:
    """The record setting (or, with ``level=None``, removing) a compatibility level."""
    key: dict[str, Any] = {"akx": _MARK, "keytype": "CONFIG", "subject": subject}
    return key, (_REMOVED if level is None else {"compatibilityLevel": level})
