"""Avro schemas and records derived from dataclasses.

The mapping (Python → Avro):

==========================  ==================================================
``str``                     ``string``
``int``                     ``long``
``float``                   ``double``
``bool``                    ``boolean``
``bytes``                   ``bytes``
``datetime`` (tz-aware)     ``long`` / ``timestamp-micros`` (read back in UTC)
``T | None``                ``["null", T]``, default ``null``
``list[T]``                 ``array``
``tuple[T, ...]``           ``array`` (read back as a tuple)
``dict[str, T]``            ``map``
a dataclass                 ``record`` (named after the class)
an ``Enum``                 ``enum`` of the member *names*
``Literal["a", "b"]``       ``enum`` named ``<Record><Field>`` (``RequestEventKind``)
==========================  ==================================================

Field defaults become Avro defaults (``default_factory`` of ``list``/``dict``/``tuple``
becomes ``[]``/``{}``), which is what lets a schema gain fields compatibly.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import functools
import re
import typing
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from ._record_converter import (
    PRIMITIVES,
    avro_name,
    check_aware,
    field_hints,
    init_fields,
    optional_inner,
    record_converter,
)
from .exceptions import UnsupportedTypeError

__all__ = ["avro_schema_for", "from_avro_record", "to_avro_record"]

T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def to_avro_record(obj: object) -> dict[str, Any]:
    """The Avro record (a dict) for dataclass instance ``obj``."""
    return record_converter(type(obj)).to_record(obj)


def from_avro_record(cls: type[T], record: Mapping[str, Any]) -> T:
    """An instance of dataclass ``cls`` from an Avro record read with its schema."""
    return record_converter(cls).from_record(record)


def avro_schema_for(cls: type[Any], *, namespace: str | None = None) -> dict[str, Any]:
    """The Avro record schema of dataclass ``cls``.

    Args:
        cls: the dataclass.
        namespace: Avro namespace of every named type; defaults to ``cls.__module__``
            (with characters Avro does not allow in names replaced by ``_``).

    Raises:
        UnsupportedTypeError: a field's type has no Avro mapping (the error names
            the dataclass and the field).
    """
    record_converter(cls)  # validates every field type, with the same error messages
    return copy.deepcopy(_cached_schema(cls, namespace or _module_namespace(cls.__module__)))


def _module_namespace(module: str) -> str:
    """A module path as an Avro namespace: characters Avro refuses become ``_``."""
    parts = [re.sub(r"[^A-Za-z0-9_]", "_", part) for part in module.split(".")]
    return ".".join(f"_{part}" if part[:1].isdigit() or not part else part for part in parts)


@functools.cache
def _cached_schema(cls: type[Any], namespace: str) -> dict[str, Any]:
    return _SchemaBuilder(namespace).record(cls)


class _SchemaBuilder:
    def __init__(self, namespace: str) -> None:
        for part in namespace.split("."):
            avro_name("namespace", part)
        self.namespace = namespace
        self.defined: dict[str, Any] = {}

    def _name(self, name: str, owner: Any, where: str) -> tuple[str, bool]:
        """(full name, already defined) for a named type; a clash is an error."""
        full = f"{self.namespace}.{avro_name(where, name)}"
        known = self.defined.get(full)
        if known is not None and known != owner:
            raise UnsupportedTypeError(where, f"two different types are named {full}")
        self.defined[full] = owner
        return full, known is not None

    def record(self, cls: type[Any]) -> dict[str, Any] | Any:
        full, seen = self._name(cls.__name__, cls, cls.__name__)
        if seen:
            return full
        hints = field_hints(cls)
        fields = [self.field(cls, f, hints[f.name]) for f in init_fields(cls)]
        return {
            "type": "record",
            "name": cls.__name__,
            "namespace": self.namespace,
            "fields": fields,
        }

    def field(self, cls: type[Any], f: dataclasses.Field[Any], tp: Any) -> dict[str, Any]:
        where = f"{cls.__name__}.{f.name}"
        entry: dict[str, Any] = {"name": avro_name(where, f.name)}
        has_default, default = _python_default(f)
        inner = optional_inner(tp)
        if inner is not None:
            branch = self.type(inner, cls, f.name)
            if has_default and default is not None:
                entry["type"] = [branch, "null"]
            else:
                entry["type"] = ["null", branch]
                has_default, default = True, None
        else:
            entry["type"] = self.type(tp, cls, f.name)
        if has_default:
            entry["default"] = _json_default(default)
        return entry

    def type(self, tp: Any, owner: type[Any], field_name: str) -> Any:
        where = f"{owner.__name__}.{field_name}"
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if tp in PRIMITIVES:
            return PRIMITIVES[tp]
        if tp is datetime:
            return {"type": "long", "logicalType": "timestamp-micros"}
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return self.record(tp)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            symbols = [avro_name(where, member.name) for member in tp]
            return self.enum(tp.__name__, tp, symbols, where)
        if origin is typing.Literal:
            if not all(isinstance(a, str) for a in args):
                raise UnsupportedTypeError(where, f"{tp!r}: only Literal of strings is supported")
            name = owner.__name__ + "".join(p.capitalize() for p in field_name.split("_"))
            symbols = [avro_name(where, a) for a in args]
            return self.enum(name, (owner, field_name), symbols, where)
        inner = optional_inner(tp)
        if inner is not None:
            return ["null", self.type(inner, owner, field_name)]
        if origin in (list, tuple):
            return {"type": "array", "items": self.type(args[0], owner, field_name)}
        if origin is dict:
            return {"type": "map", "values": self.type(args[1], owner, field_name)}
        raise UnsupportedTypeError(where, f"type {tp!r} has no Avro mapping")

    def enum(self, name: str, owner: Any, symbols: list[str], where: str) -> Any:
        full, seen = self._name(name, owner, where)
        if seen:
            return full
        return {"type": "enum", "name": name, "namespace": self.namespace, "symbols": symbols}


def _python_default(f: dataclasses.Field[Any]) -> tuple[bool, Any]:
    if f.default is not dataclasses.MISSING:
        return True, f.default
    factory: Any = f.default_factory
    if factory is dataclasses.MISSING:
        return False, None
    # Only empty containers: calling other factories (uuid4, now) would make the
    # schema differ from one run to the next.
    container = typing.get_origin(factory) or factory
    if container in (list, tuple):
        return True, []
    if container is dict:
        return True, {}
    return False, None


def _json_default(value: Any) -> Any:
    """A Python default as Avro's JSON encoding of it."""
    if isinstance(value, bytes):
        return value.decode("latin-1")  # Avro encodes bytes defaults as code points 0-255
    if isinstance(value, datetime):
        return (check_aware(value) - _EPOCH) // _MICROSECOND
    if isinstance(value, enum.Enum):
        return value.name
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json_default(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_json_default(v) for v in typing.cast("list[Any]", value)]
    if isinstance(value, dict):
        return {k: _json_default(v) for k, v in typing.cast("dict[str, Any]", value).items()}
    return value
