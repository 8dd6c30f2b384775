"""Dataclass instances to Avro records and back, with the work decided once per class.

Also the type introspection that the schema derivation (``_dataclass_avro``) shares,
so both sides agree on what each annotation means.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import inspect
import re
import threading
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from .exceptions import EventEncodeError, UnsupportedTypeError

__all__ = [
    "PRIMITIVES",
    "RecordConverter",
    "avro_name",
    "check_aware",
    "field_hints",
    "init_fields",
    "optional_inner",
    "record_converter",
]

_Convert = Callable[[Any], Any]
_AVRO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PRIMITIVES: dict[Any, str] = {
    str: "string",
    int: "long",
    float: "double",
    bool: "boolean",
    bytes: "bytes",
    type(None): "null",
}


def avro_name(owner: str, text: str) -> str:
    """``text`` if it is a valid Avro name; else an error naming ``owner``."""
    if not _AVRO_NAME.match(text):
        raise UnsupportedTypeError(owner, f"{text!r} is not a valid Avro name")
    return text


def field_hints(cls: type[Any]) -> dict[str, Any]:
    """The resolved annotations of ``cls`` (string annotations evaluated)."""
    try:
        return typing.get_type_hints(cls)
    except Exception as exc:
        raise UnsupportedTypeError(cls.__name__, f"cannot resolve annotations: {exc}") from exc


def init_fields(cls: type[Any]) -> list[dataclasses.Field[Any]]:
    """The data fields of ``cls``, in declaration order."""
    # Fields with init=False are derived in __post_init__: they are not data.
    return [f for f in dataclasses.fields(cls) if f.init]


def optional_inner(tp: Any) -> Any | None:
    """``T`` for ``T | None``; ``None`` for any other type."""
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return None
    args = [arg for arg in typing.get_args(tp) if arg is not type(None)]
    return args[0] if len(args) == 1 and len(typing.get_args(tp)) == 2 else None


class RecordConverter:
    """Turns instances of one dataclass into Avro record dicts and back.

    Built once per class (see :func:`record_converter`); the per-field work is decided
    up front, so converting an instance only touches the fields that need it
    (nested dataclasses, enums, tuples, datetimes).
    """

    def __init__(self, cls: type[Any]) -> None:
        self.cls = cls
        self.names: tuple[str, ...] = ()
        # Instances without a __dict__ (slots=True) are read field by field.
        self._slotted: bool = getattr(cls, "__dictoffset__", 0) == 0
        self._direct = False
        self._post_init: Callable[[Any], None] | None = getattr(cls, "__post_init__", None)
        self._out: list[tuple[str, _Convert]] = []
        self._in: list[tuple[str, _Convert]] = []

    def _build(self) -> None:
        hints = field_hints(self.cls)
        fields = init_fields(self.cls)
        self.names = tuple(f.name for f in fields)
        for f in fields:
            out, back = _converters(hints[f.name], f"{self.cls.__name__}.{f.name}")
            if out is not None:
                self._out.append((f.name, out))
            if back is not None:
                self._in.append((f.name, back))
        self._direct = _can_build_directly(self.cls)

    def to_record(self, obj: Any) -> dict[str, Any]:
        """The Avro record (a dict) for ``obj``."""
        if self._slotted:
            record = {name: getattr(obj, name) for name in self.names}
        else:
            record = obj.__dict__.copy()
        for name, convert in self._out:
            record[name] = convert(record[name])
        return record

    def from_record(self, record: Mapping[str, Any]) -> Any:
        """An instance built from an Avro record read with this class's schema."""
        # Converters replace values in place, nested dicts included: work on a copy.
        return self.from_fresh_record(copy.deepcopy(dict(record)))

    def from_fresh_record(self, record: dict[str, Any]) -> Any:
        """Like :meth:`from_record`, but takes over ``record`` (a dict nobody else holds)."""
        for name, convert in self._in:
            record[name] = convert(record[name])
        if not self._direct:
            return self.cls(**record)
        # What the generated __init__ does (set every field, then __post_init__),
        # minus its per-field object.__setattr__ calls: ten times faster for an
        # event, and a reader-schema record always holds every field.
        obj: Any = object.__new__(self.cls)
        obj.__dict__.update(record)
        if self._post_init is not None:
            self._post_init(obj)
        return obj


def _can_build_directly(cls: type[Any]) -> bool:
    """Whether instances can be filled through ``__dict__`` like the generated __init__."""
    params: Any = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.init or getattr(cls, "__dictoffset__", 0) == 0:
        return False
    if any(not f.init for f in dataclasses.fields(cls)):
        return False
    # InitVar pseudo-fields reach __post_init__ as arguments: only the real __init__
    # knows them.
    post_init = getattr(cls, "__post_init__", None)
    return post_init is None or len(inspect.signature(post_init).parameters) == 1


_converters_by_class: dict[type[Any], RecordConverter] = {}
_building: dict[type[Any], RecordConverter] = {}
_lock = threading.RLock()


def record_converter(cls: type[Any]) -> RecordConverter:
    """The cached :class:`RecordConverter` of dataclass ``cls``.

    Raises:
        UnsupportedTypeError: ``cls`` is not a dataclass or has a field without an
            Avro mapping.
    """
    converter = _converters_by_class.get(cls)
    if converter is not None:
        return converter
    with _lock:
        # A recursive dataclass meets itself while its fields are being built.
        converter = _converters_by_class.get(cls) or _building.get(cls)
        if converter is not None:
            return converter
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise UnsupportedTypeError(getattr(cls, "__name__", repr(cls)), "is not a dataclass")
        converter = RecordConverter(cls)
        _building[cls] = converter
        try:
            converter._build()  # pyright: ignore[reportPrivateUsage]
        finally:
            del _building[cls]
        _converters_by_class[cls] = converter
        return converter


def check_aware(value: Any) -> Any:
    """``value`` unchanged, unless it is a naive datetime (an encode error)."""
    if isinstance(value, datetime) and value.tzinfo is None:
        raise EventEncodeError(f"naive datetime {value!r}: use a timezone-aware datetime")
    return value


def _converters(tp: Any, where: str) -> tuple[_Convert | None, _Convert | None]:
    """(to Avro, from Avro) converters for a field type; ``None`` means unchanged."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp in PRIMITIVES or origin is typing.Literal:
        return None, None
    if tp is datetime:
        return check_aware, None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        nested = record_converter(tp)
        return nested.to_record, nested.from_fresh_record
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_converters(tp)
    inner = optional_inner(tp)
    if inner is not None:
        out, back = _converters(inner, where)
        return _maybe(out), _maybe(back)
    if origin is list or (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
        out, back = _converters(args[0], where)
        if origin is tuple:
            # Tuples leave as lists: in a union, fastavro would read a tuple as a
            # (branch name, value) pair.
            return _each(out, list), _each(back, tuple)
        return (_each(out, list) if out else None), (_each(back, list) if back else None)
    if origin is dict and len(args) == 2 and args[0] is str:
        out, back = _converters(args[1], where)
        return _each_value(out), _each_value(back)
    raise UnsupportedTypeError(where, f"type {tp!r} has no Avro mapping")


def _enum_converters(members: type[enum.Enum]) -> tuple[_Convert, _Convert]:
    def out(member: enum.Enum) -> str:
        return member.name

    def back(name: str) -> enum.Enum:
        return members[name]

    return out, back


def _each(convert: _Convert | None, into: Callable[[Any], Any]) -> _Convert:
    if convert is None:
        return into

    def run(values: Any) -> Any:
        return into([convert(value) for value in values])

    return run


def _each_value(convert: _Convert | None) -> _Convert | None:
    if convert is None:
        return None

    def run(mapping: dict[str, Any]) -> dict[str, Any]:
        return {key: convert(value) for key, value in mapping.items()}

    return run


def _maybe(convert: _Convert | None) -> _Convert | None:
    if convert is None:
        return None

    def run(value: Any) -> Any:
        return None if value is None else convert(value)

    return run
