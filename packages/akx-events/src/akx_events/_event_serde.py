"""EventSerde: akx events to Kafka records (value + headers) and back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import fastavro
from confluent_kafka.schema_registry import SchemaRegistryClient

from ._config import SchemaRegistryConfig
from ._constants import (
    CONTENT_TYPE_HEADER,
    HEADER_AGENT_SENDER_KEY,
    HEADER_AGENT_SENDER_TYPE,
    HEADER_ID,
    HEADER_MESSAGE_KIND,
    HEADER_SOURCE,
    HEADER_SPECVERSION,
    HEADER_TIME,
    HEADER_TYPE,
    TRACEPARENT_HEADER,
    TRACESTATE_HEADER,
)
from ._events import EVENT_TYPES, AnyEvent
from ._headers import (
    Header,
    HeaderWriter,
    RecordHeaders,
    check_headers,
    event_type_name,
    passthrough_headers,
)
from ._record_converter import RecordConverter, record_converter
from ._schema_cache import SchemaCache
from ._schemas import event_schema, event_subject
from ._wire import read_body, read_schema_id, write_value
from .exceptions import (
    ConfigurationError,
    EventDecodeError,
    EventEncodeError,
    PayloadTooLargeError,
    UnknownSchemaError,
)

__all__ = ["DecodedEvent", "EventSerde"]

_RESERVED_HEADERS = frozenset(
    {
        HEADER_SPECVERSION,
        HEADER_ID,
        HEADER_SOURCE,
        HEADER_TYPE,
        HEADER_TIME,
        CONTENT_TYPE_HEADER,
        HEADER_MESSAGE_KIND,
        HEADER_AGENT_SENDER_TYPE,
        HEADER_AGENT_SENDER_KEY,
    }
)


@dataclass(frozen=True, kw_only=True)
class DecodedEvent:
    """An event with what its record carried besides the event.

    Attributes:
        event: the decoded event.
        schema_id: the writer schema id found in the value.
        headers: the record's headers that are not CloudEvents attributes (trace
            context and any extra headers the producer added), in record order.
    """

    event: AnyEvent
    schema_id: int
    headers: tuple[tuple[str, bytes | None], ...]

    def header(self, name: str) -> bytes | None:
        """The last value of a pass-through header, or ``None``."""
        for key, value in reversed(self.headers):
            if key == name:
                return value
        return None

    @property
    def traceparent(self) -> str | None:
        """The W3C ``traceparent`` header, if the producer sent one."""
        value = self.header(TRACEPARENT_HEADER)
        return value.decode("utf-8", "replace") if value is not None else None

    @property
    def tracestate(self) -> str | None:
        """The W3C ``tracestate`` header, if the producer sent one."""
        value = self.header(TRACESTATE_HEADER)
        return value.decode("utf-8", "replace") if value is not None else None


@dataclass(frozen=True, kw_only=True, slots=True)
class _Writer:
    to_record: Callable[[Any], dict[str, Any]]
    prefix: bytes
    schema: Any
    schema_id: int


@dataclass(frozen=True, kw_only=True, slots=True)
class _Reader:
    converter: RecordConverter
    ce_type: bytes
    writer: Any
    reader: Any | None


class EventSerde:
    """Encodes akx events as Kafka records and decodes them back.

    A record's value is the event in Avro binary, in Confluent wire format (magic
    byte 0, 4-byte big-endian schema id, body); its headers are the CloudEvents
    attributes (Kafka protocol binding, binary content mode). See the package README
    for the full mapping.

    Call :meth:`prepare` (or :meth:`prepare_sync`) once before use: it registers or
    looks up the schema of every event type and loads every registered version of
    them. After that, :meth:`encode` and :meth:`decode` are pure CPU work and never
    call Schema Registry. A record written with a schema id registered *after*
    ``prepare`` (a newer worker, say) makes :meth:`decode` raise
    :class:`UnknownSchemaError`; :meth:`decode_async` fetches that schema once, in a
    thread, and decodes the record by resolving it against the schema this version
    of akx reads with. Instances are safe to share between threads.

    Args:
        registry: where Schema Registry is, or a ready client (not closed by us).
        max_payload_bytes: largest record (value plus headers) :meth:`encode` accepts;
            keep it below the broker's and topic's ``max.message.bytes``.
        source: the CloudEvents ``ce_source`` of every record this serde writes.
        auto_register_schemas: register the event schemas; defaults to the config's
            setting (``True`` for a client).
        use_latest_version: with auto-registration off, write with the latest
            registered version of each subject; defaults to the config's setting.
        load_registered_versions: at ``prepare``, also load every registered version
            of each event schema, so that :meth:`decode` reads records of older and
            newer writers without registry calls.

    Raises:
        ConfigurationError: an argument is invalid.
    """

    def __init__(
        self,
        registry: SchemaRegistryConfig | SchemaRegistryClient,
        *,
        max_payload_bytes: int = 900_000,
        source: str = "akx",
        auto_register_schemas: bool | None = None,
        use_latest_version: bool | None = None,
        load_registered_versions: bool = True,
    ) -> None:
        if type(max_payload_bytes) is not int or max_payload_bytes < 1:
            raise ConfigurationError(
                "max_payload_bytes", f"{max_payload_bytes!r} must be a positive integer"
            )
        if not isinstance(source, str) or not source.strip():  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigurationError("source", f"{source!r} must be a non-empty string")
        self._schemas = SchemaCache.for_registry(
            registry,
            auto_register=auto_register_schemas,
            use_latest_version=use_latest_version,
        )
        self._max_bytes = max_payload_bytes
        self._source = source
        self._load_versions = load_registered_versions
        self._header_writer = HeaderWriter(source)
        self._writers: dict[type[Any], _Writer] = {}
        self._readers: dict[int, _Reader] = {}
        # What this version of akx reads with, by full record name; no I/O needed.
        self._reader_schemas = {event_subject(cls): (cls, event_schema(cls)) for cls in EVENT_TYPES}

    @property
    def source(self) -> str:
        """The ``ce_source`` of the records this serde writes."""
        return self._source

    @property
    def max_payload_bytes(self) -> int:
        """The largest record :meth:`encode` accepts, in bytes."""
        return self._max_bytes

    @property
    def prepared(self) -> bool:
        """Whether :meth:`prepare` has run."""
        return len(self._writers) == len(EVENT_TYPES)

    def schema_id(self, event_type: type[Any]) -> int:
        """The schema id records of ``event_type`` are written with (after prepare)."""
        return self._writers[event_type].schema_id

    async def prepare(self) -> None:
        """Register or look up every event schema, in a thread; see :meth:`prepare_sync`."""
        await asyncio.to_thread(self.prepare_sync)

    def prepare_sync(self) -> None:
        """Register or look up every event schema and cache their ids (blocking).

        Raises:
            SchemaIncompatibleError: Schema Registry refused a schema as incompatible.
            SchemaRegistryError: Schema Registry is unreachable, or a schema is not
                registered while auto-registration is off.
        """
        for cls in EVENT_TYPES:
            subject = event_subject(cls)
            writer = self._schemas.writer_for(subject, event_schema(cls))
            self._add_reader(writer.schema_id)
            if self._load_versions:
                for schema_id in self._schemas.load_subject_versions(subject):
                    self._add_reader(schema_id)
            self._writers[cls] = _Writer(
                to_record=record_converter(cls).to_record,
                prefix=writer.prefix,
                schema=writer.parsed,
                schema_id=writer.schema_id,
            )

    def _add_reader(self, schema_id: int) -> bool:
        written = self._schemas.schema(schema_id)
        if written is None or schema_id in self._readers:
            return written is not None
        full_name = f"{written.get('namespace', '')}.{written.get('name', '')}"
        ours = self._reader_schemas.get(full_name)
        if ours is None:
            return False  # a schema, but not of an akx event
        cls, reader_schema = ours
        same = written == reader_schema
        self._readers[schema_id] = _Reader(
            converter=record_converter(cls),
            ce_type=event_type_name(cls).encode(),
            writer=self._schemas.parsed(schema_id),
            reader=None if same else fastavro.parse_schema(reader_schema),
        )
        return True

    def encode(
        self, event: AnyEvent, *, topic: str, extra_headers: Sequence[Header] = ()
    ) -> tuple[bytes, list[Header]]:
        """The record value and headers of ``event``; no I/O.

        Args:
            event: the event.
            topic: the topic the record is for (named in errors).
            extra_headers: more headers, e.g. ``traceparent``/``tracestate``, appended
                after the CloudEvents headers.

        Raises:
            PayloadTooLargeError: value plus headers exceed ``max_payload_bytes``.
            EventEncodeError: the event does not fit its schema, an extra header would
                replace a CloudEvents header, or :meth:`prepare` has not run.
        """
        writer = self._writers.get(type(event))
        if writer is None:
            raise EventEncodeError(self._cannot_encode(event))
        try:
            value = write_value(writer.prefix, writer.schema, writer.to_record(event))
        except EventEncodeError:
            raise
        except Exception as exc:
            raise EventEncodeError(
                f"cannot encode {type(event).__name__} for topic {topic!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        headers = self._header_writer.headers(event)
        if extra_headers:
            for name, _ in extra_headers:
                if name in _RESERVED_HEADERS:
                    raise EventEncodeError(f"extra header {name!r} would replace the serde's own")
            headers.extend(extra_headers)
        size = len(value)
        for name, header_value in headers:
            size += len(name) + len(header_value or b"")
        if size > self._max_bytes:
            raise PayloadTooLargeError(
                size, self._max_bytes, f"{type(event).__name__} record for topic {topic!r}"
            )
        return value, headers

    def _cannot_encode(self, event: object) -> str:
        if type(event) in EVENT_TYPES:
            return "EventSerde.prepare() has not run: call it once before encoding"
        return f"{type(event).__name__} is not an akx event type"

    def decode(self, value: bytes | None, headers: RecordHeaders | None) -> AnyEvent:
        """The event in a record; no I/O.

        Raises:
            UnknownSchemaError: the value names a schema id not loaded yet (use
                :meth:`decode_async`, or :meth:`prefetch` the id).
            EventDecodeError: anything else wrong with the record: not wire format,
                bad headers, a malformed body, trailing bytes.
        """
        schema_id = read_schema_id(value)
        reader = self._readers.get(schema_id)
        if reader is None:
            raise self._unknown(schema_id)
        check_headers(headers, reader.ce_type)
        assert value is not None  # read_schema_id checked it
        record = read_body(value, reader.writer, reader.reader)
        try:
            return reader.converter.from_fresh_record(record)
        except Exception as exc:
            raise EventDecodeError(f"record does not make a valid event: {exc}") from exc

    async def decode_async(self, value: bytes | None, headers: RecordHeaders | None) -> AnyEvent:
        """Like :meth:`decode`, but fetches an unknown schema id from the registry first.

        The fetch happens once per id, in a thread; ids the registry does not know
        are remembered too.

        Raises:
            EventDecodeError: the record is bad, or its schema id is unknown to
                Schema Registry or is not an akx event schema.
            SchemaRegistryError: Schema Registry could not be asked (retriable).
        """
        await self.prefetch(read_schema_id(value))
        return self.decode(value, headers)

    def decode_record(self, value: bytes | None, headers: RecordHeaders | None) -> DecodedEvent:
        """Like :meth:`decode`, also returning the schema id and pass-through headers."""
        event = self.decode(value, headers)
        assert headers is not None  # decode checked them
        return DecodedEvent(
            event=event, schema_id=read_schema_id(value), headers=passthrough_headers(headers)
        )

    async def decode_record_async(
        self, value: bytes | None, headers: RecordHeaders | None
    ) -> DecodedEvent:
        """Like :meth:`decode_async`, also returning the schema id and pass-through headers."""
        await self.prefetch(read_schema_id(value))
        return self.decode_record(value, headers)

    async def prefetch(self, schema_id: int) -> bool:
        """Load a writer schema id in a thread if needed; whether it is an event schema."""
        if schema_id in self._readers:
            return True
        return await asyncio.to_thread(self.prefetch_sync, schema_id)

    def prefetch_sync(self, schema_id: int) -> bool:
        """Load a writer schema id (blocking) if needed; whether it is an event schema."""
        if schema_id in self._readers:
            return True
        return self._schemas.fetch(schema_id) is not None and self._add_reader(schema_id)

    def _unknown(self, schema_id: int) -> UnknownSchemaError:
        if not self._readers:
            return UnknownSchemaError(
                schema_id, "EventSerde.prepare() has not run: call it once before decoding"
            )
        if self._schemas.schema(schema_id) is not None:
            return UnknownSchemaError(
                schema_id, f"schema id {schema_id} is not the schema of an akx event"
            )
        return UnknownSchemaError(
            schema_id,
            f"schema id {schema_id} is not loaded (decode_async fetches it from Schema "
            f"Registry at {self._schemas.url}) or does not exist",
        )

    def close(self) -> None:
        """Close the registry client if this serde created it. Idempotent."""
        self._schemas.close()
