"""Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro binary body."""

from __future__ import annotations

import struct
from collections.abc import Callable
from io import BytesIO
from typing import Any, cast

import fastavro

from ._constants import MAGIC_BYTE, WIRE_HEADER_SIZE
from .exceptions import EventDecodeError

__all__ = ["read_body", "read_schema_id", "wire_prefix", "write_value"]

# fastavro's stubs leave the IO type parameter open; these are the calls we make.
_schemaless_writer = cast("Callable[..., None]", cast(Any, fastavro).schemaless_writer)
_schemaless_reader = cast("Callable[..., Any]", cast(Any, fastavro).schemaless_reader)

_PREFIX = struct.Struct(">bI")


def wire_prefix(schema_id: int) -> bytes:
    """The five bytes that start every value written with schema ``schema_id``."""
    return _PREFIX.pack(MAGIC_BYTE, schema_id)


def read_schema_id(value: object) -> int:
    """The schema id of a wire-format value.

    Raises:
        EventDecodeError: ``value`` is not bytes, is too short to hold the wire
            header, or does not start with magic byte 0.
    """
    if not isinstance(value, (bytes, bytearray)):
        raise EventDecodeError(f"record value must be bytes, got {type(value).__name__}")
    if len(value) < WIRE_HEADER_SIZE:
        raise EventDecodeError(
            f"record value has {len(value)} bytes, fewer than the {WIRE_HEADER_SIZE}-byte "
            "wire format header"
        )
    if value[0] != MAGIC_BYTE:
        raise EventDecodeError(
            f"record value starts with byte {value[0]}, not the wire format magic byte {MAGIC_BYTE}"
        )
    return int.from_bytes(value[1:WIRE_HEADER_SIZE], "big")


def write_value(prefix: bytes, schema: Any, record: dict[str, Any]) -> bytes:
    """A wire-format value: ``prefix`` then ``record`` in Avro binary.

    Errors of fastavro (a value that does not fit its field) propagate unchanged;
    the caller knows what it was encoding and says so.
    """
    stream = BytesIO()
    stream.write(prefix)
    # Tuple notation would let a tuple pick a union branch by name: data never
    # selects schema branches here.
    _schemaless_writer(stream, schema, record, disable_tuple_notation=True)
    return stream.getvalue()


def read_body(value: bytes, writer: Any, reader: Any | None) -> Any:
    """The Avro body of a wire-format value, read with ``writer`` resolved to ``reader``.

    ``reader`` is ``None`` when it is the writer schema itself (no resolution needed).

    Raises:
        EventDecodeError: the body is truncated, malformed, does not resolve to the
            reader schema, or has bytes left over after the record.
    """
    stream = BytesIO(value)
    stream.seek(WIRE_HEADER_SIZE)
    try:
        record = _schemaless_reader(stream, writer, reader)
    except Exception as exc:
        # Untrusted bytes make fastavro fail in many ways (EOFError, IndexError,
        # UnicodeDecodeError, OverflowError, SchemaResolutionError, ...).
        raise EventDecodeError(f"malformed Avro body: {type(exc).__name__}: {exc}") from exc
    if stream.tell() != len(value):
        raise EventDecodeError(
            f"{len(value) - stream.tell()} bytes left over after the Avro record"
        )
    return record
