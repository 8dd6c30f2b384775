"""The shipped Avro schemas of the akx events (package data under ``schemas/``).

``schemas/<Name>.avsc`` is the current schema of each event; ``schemas/history/<Name>/
v<N>.avsc`` keeps every released version, so tests can prove that the current schema
reads everything ever written (BACKWARD_TRANSITIVE).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from importlib import resources
from typing import Any

from ._constants import SCHEMA_NAMESPACE
from ._events import EVENT_TYPES

__all__ = ["event_schema", "event_schema_history", "event_subject"]

_VERSION_FILE = re.compile(r"^v([0-9]+)\.avsc$")


def _name_of(event: type[Any] | str) -> str:
    name = event if isinstance(event, str) else event.__name__
    if name not in {cls.__name__ for cls in EVENT_TYPES}:
        raise KeyError(f"{name!r} is not an akx event type")
    return name


def event_subject(event: type[Any] | str) -> str:
    """The Schema Registry subject of an event type: its full record name.

    akx uses the RecordNameStrategy: one subject per event type, whatever topics it
    travels on (see the package README for why).
    """
    return f"{SCHEMA_NAMESPACE}.{_name_of(event)}"


@functools.cache
def _load(*parts: str) -> dict[str, Any]:
    path = resources.files("akx_events") / "schemas"
    for part in parts:
        path = path / part
    text = path.read_text("utf-8")
    return json.loads(text)


def event_schema(event: type[Any] | str) -> dict[str, Any]:
    """The current Avro schema of an event type, as JSON data (a fresh copy)."""
    return copy.deepcopy(_load(f"{_name_of(event)}.avsc"))


def event_schema_history(event: type[Any] | str) -> list[tuple[int, dict[str, Any]]]:
    """Every released schema of an event type, oldest first, as ``(version, schema)``."""
    name = _name_of(event)
    folder = resources.files("akx_events") / "schemas" / "history" / name
    versions = sorted(
        int(match.group(1))
        for entry in folder.iterdir()
        if (match := _VERSION_FILE.match(entry.name)) is not None
    )
    return [(v, copy.deepcopy(_load("history", name, f"v{v}.avsc"))) for v in versions]
