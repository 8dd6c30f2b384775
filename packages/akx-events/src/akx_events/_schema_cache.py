"""Schema ids and parsed schemas, fetched from Schema Registry once and kept."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, cast

import fastavro
from confluent_kafka.schema_registry import RegisteredSchema, Schema, SchemaRegistryClient

from ._config import SchemaRegistryConfig
from ._registry import create_registry_client, registry_call, registry_url
from ._wire import wire_prefix
from .exceptions import ConfigurationError, SchemaIncompatibleError, SchemaRegistryError

__all__ = ["SchemaCache", "WriterSchema", "schema_json"]

# Ids the registry said it does not know are remembered, so a stream of junk
# records cannot turn into a stream of registry requests; bounded all the same.
_MAX_UNKNOWN_IDS = 10_000


def schema_json(schema: dict[str, Any]) -> str:
    """The JSON text registered for ``schema``: compact and stable, so lookups match."""
    return json.dumps(schema, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, kw_only=True)
class WriterSchema:
    """The schema records of one subject are written with.

    Attributes:
        schema_id: its id in Schema Registry.
        prefix: magic byte and schema id, the first five bytes of every value.
        schema: the schema as JSON data.
        parsed: the schema parsed by fastavro.
    """

    schema_id: int
    prefix: bytes
    schema: dict[str, Any]
    parsed: Any


class SchemaCache:
    """What one process knows of Schema Registry: writer schemas by subject, schemas by id.

    All methods that talk to the registry block; async callers run them in a thread.
    Lookups of already known ids never do I/O.

    Args:
        client: the registry client.
        auto_register: register schemas that are not registered yet (development).
        use_latest_version: without auto-registration, write with the latest version
            registered under each subject instead of looking up our exact schema.
        owns_client: close the client in :meth:`close`.
    """

    def __init__(
        self,
        client: SchemaRegistryClient,
        *,
        auto_register: bool,
        use_latest_version: bool,
        owns_client: bool = False,
    ) -> None:
        self.client = client
        self.url = registry_url(client)
        self._owns_client = owns_client
        self.auto_register = auto_register
        self.use_latest_version = use_latest_version
        self._by_id: dict[int, dict[str, Any]] = {}
        self._parsed: dict[int, Any] = {}
        self._unknown: set[int] = set()
        self._lock = threading.Lock()

    @classmethod
    def for_registry(
        cls,
        registry: SchemaRegistryConfig | SchemaRegistryClient,
        *,
        auto_register: bool | None = None,
        use_latest_version: bool | None = None,
    ) -> SchemaCache:
        """A cache over a configured registry or a ready client.

        ``None`` flags take the config's settings; a bare client auto-registers and
        does not use the latest version.

        Raises:
            ConfigurationError: ``registry`` is neither a config nor a client.
        """
        if isinstance(registry, SchemaRegistryConfig):
            client = create_registry_client(registry)
            owns = not registry.url.startswith("mock://")
            auto, latest = registry.auto_register_schemas, registry.use_latest_version
        elif isinstance(registry, SchemaRegistryClient):  # pyright: ignore[reportUnnecessaryIsInstance]
            client, owns, auto, latest = registry, False, True, False
        else:
            raise ConfigurationError(
                "registry", f"expected a SchemaRegistryConfig or a client, got {registry!r}"
            )
        return cls(
            client,
            auto_register=auto if auto_register is None else auto_register,
            use_latest_version=latest if use_latest_version is None else use_latest_version,
            owns_client=owns,
        )

    def close(self) -> None:
        """Close the client if this cache created it. Idempotent."""
        if self._owns_client:
            self._owns_client = False
            self.client.close()

    def writer_for(self, subject: str, schema: dict[str, Any]) -> WriterSchema:
        """The schema to write ``subject`` with, registering or looking it up (blocking).

        Raises:
            SchemaIncompatibleError: the registry refused the schema (409), or the
                latest registered version requires fields ``schema`` does not have.
            SchemaRegistryError: the registry is unreachable, or the schema is not
                registered while auto-registration is off.
        """
        text = schema_json(schema)
        if self.auto_register:
            schema_id = registry_call(
                self.url,
                f"register subject {subject}",
                lambda: self.client.register_schema(subject, Schema(text, "AVRO")),
            )
            return self._remember(int(schema_id), schema)
        if self.use_latest_version:
            latest = registry_call(
                self.url,
                f"latest version of subject {subject}",
                lambda: self.client.get_latest_version(subject),
            )
            writer = self._registered(latest, subject)
            _check_writable(subject, writer, schema)
            return self._remember(int(latest.schema_id or 0), writer)
        found = registry_call(
            self.url,
            f"look up subject {subject}",
            lambda: self.client.lookup_schema(subject, Schema(text, "AVRO")),
            not_found=lambda: None,
        )
        if found is None:
            raise SchemaRegistryError(
                f"schema of subject {subject} is not registered in Schema Registry at "
                f"{self.url}; register it, or turn on auto_register_schemas"
            )
        return self._remember(int(found.schema_id or 0), schema)

    def load_subject_versions(self, subject: str) -> list[int]:
        """Load every registered version of ``subject`` (blocking); their schema ids."""
        versions = registry_call(
            self.url,
            f"versions of subject {subject}",
            lambda: self.client.get_versions(subject),
            not_found=list[int],
        )
        ids: list[int] = []
        for version in versions:
            registered = registry_call(
                self.url,
                f"version {version} of subject {subject}",
                lambda v=version: self.client.get_version(subject, v),
            )
            schema_id = int(registered.schema_id or 0)
            self._remember(schema_id, self._registered(registered, subject))
            ids.append(schema_id)
        return ids

    def schema(self, schema_id: int) -> dict[str, Any] | None:
        """The schema with this id if it is already known (never does I/O)."""
        return self._by_id.get(schema_id)

    def parsed(self, schema_id: int) -> Any:
        """The fastavro-parsed schema with this id; it must be known."""
        return self._parsed[schema_id]

    def fetch(self, schema_id: int) -> dict[str, Any] | None:
        """The schema with this id, asking the registry once if needed (blocking).

        Returns ``None`` when the registry does not know the id.

        Raises:
            SchemaRegistryError: the registry is unreachable or failed.
        """
        known = self._by_id.get(schema_id)
        if known is not None or schema_id in self._unknown:
            return known
        with self._lock:  # one request per id, however many callers wait for it
            known = self._by_id.get(schema_id)
            if known is not None or schema_id in self._unknown:
                return known
            fetched = registry_call(
                self.url,
                f"fetch schema id {schema_id}",
                lambda: self.client.get_schema(schema_id),
                not_found=lambda: None,
            )
            if fetched is None or fetched.schema_type not in (None, "AVRO"):
                if len(self._unknown) >= _MAX_UNKNOWN_IDS:
                    self._unknown.clear()
                self._unknown.add(schema_id)
                return None
            try:
                schema = json.loads(fetched.schema_str or "")
                self._remember(schema_id, schema)
            except Exception:
                self._unknown.add(schema_id)
                return None
            return schema

    def _registered(self, registered: RegisteredSchema, subject: str) -> dict[str, Any]:
        try:
            return cast("dict[str, Any]", json.loads(registered.schema.schema_str or ""))
        except ValueError as exc:
            raise SchemaRegistryError(
                f"subject {subject} in Schema Registry at {self.url} holds a schema that "
                f"is not JSON: {exc}"
            ) from exc

    def _remember(self, schema_id: int, schema: dict[str, Any]) -> WriterSchema:
        parsed = self._parsed.get(schema_id)
        if parsed is None:
            parsed = fastavro.parse_schema(schema)
            self._parsed[schema_id] = parsed
            self._by_id[schema_id] = schema
        return WriterSchema(
            schema_id=schema_id, prefix=wire_prefix(schema_id), schema=schema, parsed=parsed
        )


def _check_writable(subject: str, latest: dict[str, Any], ours: dict[str, Any]) -> None:
    """Refuse a latest version that has required fields our records do not carry."""
    have = {f["name"] for f in ours.get("fields", [])}
    missing = [
        f["name"] for f in latest.get("fields", []) if f["name"] not in have and "default" not in f
    ]
    if latest.get("name") != ours.get("name") or missing:
        raise SchemaIncompatibleError(
            f"the latest version of subject {subject} cannot be written by this version "
            f"of akx (record {latest.get('name')!r}, required fields we lack: {missing})"
        )
