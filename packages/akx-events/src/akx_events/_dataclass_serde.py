"""DataclassSerde: one user dataclass to Confluent wire-format values and back."""

from __future__ import annotations

import asyncio
from typing import Any, Generic, TypeVar

import fastavro
from confluent_kafka.schema_registry import SchemaRegistryClient

from ._config import SchemaRegistryConfig
from ._dataclass_avro import avro_schema_for
from ._record_converter import record_converter
from ._schema_cache import SchemaCache, WriterSchema
from ._wire import read_body, read_schema_id, write_value
from .exceptions import (
    ConfigurationError,
    EventDecodeError,
    EventEncodeError,
    PayloadTooLargeError,
    UnknownSchemaError,
)

__all__ = ["DataclassSerde"]

T = TypeVar("T")


class DataclassSerde(Generic[T]):
    """Encodes instances of one dataclass as Avro values in Confluent wire format.

    The Avro schema is derived from the dataclass (see :func:`avro_schema_for`). The
    wire format is the one :class:`EventSerde` uses, without the CloudEvents headers,
    so any Confluent Avro deserializer reads these values. Lifecycle and I/O rules
    are those of :class:`EventSerde`: :meth:`prepare` once, then :meth:`encode` and
    :meth:`decode` never call the registry; :meth:`decode_async` fetches writer
    schema ids it has not seen.

    Args:
        cls: the dataclass.
        registry: where Schema Registry is, or a ready client (not closed by us).
        subject: the Schema Registry subject; defaults to the record's full name
            (RecordNameStrategy, like the akx events).
        namespace: Avro namespace of the derived schema; defaults to ``cls.__module__``.
        max_payload_bytes: largest value :meth:`encode` accepts.
        auto_register_schemas: defaults to the config's setting (``True`` for a client).
        use_latest_version: defaults to the config's setting.

    Raises:
        UnsupportedTypeError: a field of ``cls`` has no Avro mapping.
        ConfigurationError: another argument is invalid.
    """

    def __init__(
        self,
        cls: type[T],
        registry: SchemaRegistryConfig | SchemaRegistryClient,
        subject: str | None = None,
        *,
        namespace: str | None = None,
        max_payload_bytes: int = 900_000,
        auto_register_schemas: bool | None = None,
        use_latest_version: bool | None = None,
    ) -> None:
        if type(max_payload_bytes) is not int or max_payload_bytes < 1:
            raise ConfigurationError(
                "max_payload_bytes", f"{max_payload_bytes!r} must be a positive integer"
            )
        self._cls = cls
        self._converter = record_converter(cls)
        self._schema = avro_schema_for(cls, namespace=namespace)
        full_name = f"{self._schema['namespace']}.{self._schema['name']}"
        if subject is not None and not subject.strip():
            raise ConfigurationError("subject", "must be a non-empty string")
        self._subject = subject or full_name
        self._max_bytes = max_payload_bytes
        self._schemas = SchemaCache.for_registry(
            registry, auto_register=auto_register_schemas, use_latest_version=use_latest_version
        )
        self._reader_parsed = fastavro.parse_schema(self._schema)
        self._writer: WriterSchema | None = None
        self._readers: dict[int, tuple[Any, Any | None]] = {}

    @property
    def schema(self) -> dict[str, Any]:
        """The Avro schema derived from the dataclass (a copy)."""
        return avro_schema_for(self._cls, namespace=self._schema["namespace"])

    @property
    def subject(self) -> str:
        """The Schema Registry subject."""
        return self._subject

    @property
    def schema_id(self) -> int:
        """The schema id values are written with.

        Raises:
            EventEncodeError: :meth:`prepare` has not run.
        """
        return self._prepared_writer().schema_id

    async def prepare(self) -> None:
        """Register or look up the schema, in a thread; see :meth:`prepare_sync`."""
        await asyncio.to_thread(self.prepare_sync)

    def prepare_sync(self) -> None:
        """Register or look up the schema and cache its id (blocking).

        Raises:
            SchemaIncompatibleError: Schema Registry refused the schema as incompatible.
            SchemaRegistryError: Schema Registry is unreachable, or the schema is not
                registered while auto-registration is off.
        """
        writer = self._schemas.writer_for(self._subject, self._schema)
        self._add_reader(writer.schema_id)
        self._writer = writer

    def _add_reader(self, schema_id: int) -> None:
        written = self._schemas.schema(schema_id)
        if written is not None:
            same = written == self._schema
            reader = None if same else self._reader_parsed
            self._readers[schema_id] = (self._schemas.parsed(schema_id), reader)

    def _prepared_writer(self) -> WriterSchema:
        if self._writer is None:
            raise EventEncodeError(
                f"DataclassSerde({self._cls.__name__}).prepare() has not run: call it once first"
            )
        return self._writer

    def encode(self, obj: T, *, topic: str | None = None) -> bytes:
        """The wire-format value of ``obj``; no I/O.

        Raises:
            PayloadTooLargeError: the value exceeds ``max_payload_bytes``.
            EventEncodeError: ``obj`` is not an instance of the dataclass or does not
                fit its schema, or :meth:`prepare` has not run.
        """
        writer = self._prepared_writer()
        where = f" for topic {topic!r}" if topic else ""
        if not isinstance(obj, self._cls):
            raise EventEncodeError(f"expected {self._cls.__name__}, got {type(obj).__name__}")
        try:
            value = write_value(writer.prefix, writer.parsed, self._converter.to_record(obj))
        except EventEncodeError:
            raise
        except Exception as exc:
            raise EventEncodeError(
                f"cannot encode {self._cls.__name__}{where}: {type(exc).__name__}: {exc}"
            ) from exc
        if len(value) > self._max_bytes:
            raise PayloadTooLargeError(
                len(value), self._max_bytes, f"{self._cls.__name__} value{where}"
            )
        return value

    def decode(self, value: bytes | None) -> T:
        """The instance in a wire-format value; no I/O.

        Raises:
            UnknownSchemaError: the value names a schema id not loaded yet.
            EventDecodeError: the value is not wire format or its body is malformed.
        """
        schema_id = read_schema_id(value)
        schemas = self._readers.get(schema_id)
        if schemas is None:
            raise UnknownSchemaError(
                schema_id,
                f"schema id {schema_id} is not loaded for {self._cls.__name__} "
                "(prepare() not run, or use decode_async)",
            )
        assert value is not None  # read_schema_id checked it
        record = read_body(value, schemas[0], schemas[1])
        try:
            return self._converter.from_fresh_record(record)
        except Exception as exc:
            raise EventDecodeError(
                f"record does not make a valid {self._cls.__name__}: {exc}"
            ) from exc

    async def decode_async(self, value: bytes | None) -> T:
        """Like :meth:`decode`, fetching an unknown writer schema id first (in a thread).

        Raises:
            EventDecodeError: the value is bad or its schema id does not exist.
            SchemaRegistryError: Schema Registry could not be asked (retriable).
        """
        schema_id = read_schema_id(value)
        if schema_id not in self._readers:
            await asyncio.to_thread(self.prefetch_sync, schema_id)
        return self.decode(value)

    def prefetch_sync(self, schema_id: int) -> bool:
        """Load a writer schema id (blocking) if needed; whether it exists."""
        if schema_id not in self._readers and self._schemas.fetch(schema_id) is not None:
            self._add_reader(schema_id)
        return schema_id in self._readers

    def close(self) -> None:
        """Close the registry client if this serde created it. Idempotent."""
        self._schemas.close()
