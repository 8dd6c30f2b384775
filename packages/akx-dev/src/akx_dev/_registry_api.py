"""The Confluent Schema Registry REST API subset served by the development registry.

Paths, status codes, error codes and messages follow Confluent's registry (the
subset that confluent-kafka's ``SchemaRegistryClient`` and Avro serdes call).
Only Avro is accepted: other schema types and schema references are refused with
42201 rather than stored unchecked, so a test never passes here and fails on a
real registry for a reason this one did not look at.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, cast
from urllib.parse import unquote

from ._registry_compat import (
    COMPATIBILITY_LEVELS,
    InvalidSchemaError,
    ParsedSchema,
    compatibility_problems,
    parse_avro,
)
from ._registry_state import (
    Record,
    RegistryState,
    SubjectVersion,
    id_record,
    level_record,
    version_record,
)
from ._registry_store import RegistryStore, StoreError

__all__ = ["ApiError", "RegistryApi"]

Query = Mapping[str, Sequence[str]]
Args = Sequence[Any]
Handler = Callable[[Args, Query, Any], object]

_SOFT = "was soft deleted.Set permanent=true to delete permanently"
_NOT_SOFT = "was not deleted first before being permanently deleted"
_INCOMPATIBLE = (
    'Schema being registered is incompatible with an earlier schema for subject "{subject}", '
    "details: {detail}"
)
_BAD_VERSION = (
    "The specified version '{version}' is not a valid version id. "
    'Allowed values are between [1, 2^31-1] and the string "latest"'
)
_BAD_LEVEL = (
    "Invalid compatibility level. Valid values are none, backward, forward, full, "
    "backward_transitive, forward_transitive, and full_transitive"
)
#: Confluent's error codes: HTTP status and message template.
_ERRORS: dict[int, tuple[int, str]] = {
    400: (400, "Malformed JSON request body: {detail}"),
    404: (404, "HTTP 404 Not Found"),
    405: (405, "HTTP 405 Method Not Allowed"),
    409: (409, _INCOMPATIBLE),
    40401: (404, "Subject '{subject}' not found."),
    40402: (404, "Version {version} not found."),
    40403: (404, "Schema {schema} not found"),
    40404: (404, "Subject '{subject}' " + _SOFT),
    40405: (404, "Subject '{subject}' " + _NOT_SOFT),
    40406: (404, "Subject '{subject}' Version {version} " + _SOFT),
    40407: (404, "Subject '{subject}' Version {version} " + _NOT_SOFT),
    40408: (404, "Subject '{subject}' does not have subject-level compatibility configured"),
    42201: (422, "Invalid schema: {detail}"),
    42202: (422, _BAD_VERSION),
    42203: (422, _BAD_LEVEL),
    50001: (500, "Error in the backend data store: {detail}"),
    50002: (500, "Operation timed out: {detail}"),
}


class ApiError(Exception):
    """An error answer: HTTP status plus Confluent's ``error_code`` and message."""

    def __init__(self, code: int, **fields: object) -> None:
        self.status, template = _ERRORS[code]
        self.code = code
        self.message = template.format(**fields)
        super().__init__(self.message)


def _flag(query: Query, name: str) -> bool:
    # The Python client sends str(bool) ("True"); httpx sends "true".
    return query.get(name, ["false"])[-1].lower() == "true"


def _page(items: list[Any], query: Query) -> list[Any]:
    offset = int(query.get("offset", ["0"])[-1])
    limit = int(query.get("limit", ["-1"])[-1])
    return items[offset:] if limit < 0 else items[offset : offset + limit]


def _version(text: str) -> int | None:
    """Parse a version path segment; ``None`` means the latest version."""
    if text in ("latest", "-1"):
        return None
    if not text.isdigit() or not 1 <= int(text) <= 2**31 - 1:
        raise ApiError(42202, version=text)
    return int(text)


def _versioned(handler: Handler) -> Handler:
    """Parse the version path segment before anything else, as Confluent does."""
    return lambda args, query, body: handler([args[0], _version(args[1])], query, body)


def _fields(body: Any) -> dict[str, Any]:
    """The request body as a JSON object (empty when it is something else)."""
    return cast("dict[str, Any]", body) if isinstance(body, dict) else {}


def _schema_from(body: Any) -> tuple[ParsedSchema, str]:
    request = _fields(body)
    schema_type = str(request.get("schemaType") or "AVRO")
    if not isinstance(request.get("schema"), str):
        raise ApiError(42201, detail='the request needs a "schema" string')
    if schema_type.upper() != "AVRO":
        raise ApiError(42201, detail=f"the akx-dev registry only supports AVRO, not {schema_type}")
    if request.get("references"):
        raise ApiError(42201, detail="the akx-dev registry does not support schema references")
    try:
        return parse_avro(request["schema"])
    except InvalidSchemaError as exc:
        raise ApiError(42201, detail=exc) from exc


def _version_body(state: RegistryState, entry: SubjectVersion) -> dict[str, Any]:
    return {
        "subject": entry.subject,
        "version": entry.version,
        "id": entry.schema_id,
        "schema": state.schemas[entry.schema_id],
    }


def _find(entries: list[SubjectVersion], version: int | None) -> SubjectVersion:
    """Pick a version (``None``: the latest) out of a non-empty list, or raise 40402."""
    for entry in reversed(entries):
        if version is None or entry.version == version:
            return entry
    raise ApiError(40402, version=version)


class RegistryApi:
    """Routes requests to handlers that read and change the :class:`RegistryStore`."""

    def __init__(self, store: RegistryStore) -> None:
        self._store = store
        self._parsed: dict[int, ParsedSchema] = {}
        subject, config = "/subjects/([^/]+)", "/config(?:/([^/]+))?"
        version, compat = f"{subject}/versions/([^/]+)", "/compatibility/subjects/([^/]+)/versions"
        routes: list[tuple[str, str, Handler]] = [
            ("GET", "/", lambda a, q, b: {}),
            ("GET", "/schemas/types", lambda a, q, b: ["AVRO"]),
            ("GET", "/schemas/ids/([0-9]+)", self._schema_by_id),
            ("GET", "/schemas/ids/([0-9]+)/versions", self._versions_by_id),
            ("GET", "/schemas/ids/([0-9]+)/subjects", self._subjects_by_id),
            ("GET", "/subjects", self._list_subjects),
            ("POST", subject, self._lookup),
            ("DELETE", subject, self._delete_subject),
            ("GET", f"{subject}/versions", self._list_versions),
            ("POST", f"{subject}/versions", self._register),
            ("GET", version, _versioned(self._get_version)),
            ("DELETE", version, _versioned(self._delete_version)),
            ("GET", config, self._get_config),
            ("PUT", config, self._put_config),
            ("DELETE", config, self._delete_config),
            ("POST", f"{compat}/([^/]+)", _versioned(self._check)),
            ("POST", compat, lambda a, q, b: self._check([a[0], "all"], q, b)),
            ("GET", "/mode", lambda a, q, b: {"mode": "READWRITE"}),
            ("GET", "/contexts", lambda a, q, b: ["."]),
        ]
        self._routes = [(m, re.compile(p), h) for m, p, h in routes]

    def dispatch(self, method: str, path: str, query: Query, body: bytes) -> object:
        """Answer one request with a JSON-serializable value.

        Raises:
            ApiError: the answer is an error (unknown path, bad request, not found, ...).
        """
        matches = [(m, p.fullmatch(path), h) for m, p, h in self._routes]
        matches = [(m, found, h) for m, found, h in matches if found is not None]
        for route_method, found, handler in matches:
            if route_method == method:
                args = [unquote(g) if g is not None else None for g in found.groups()]
                return handler(args, query, self._json(body))
        raise ApiError(405 if matches else 404)

    @staticmethod
    def _json(body: bytes) -> Any:
        try:
            return json.loads(body) if body.strip() else None
        except ValueError as exc:
            raise ApiError(400, detail=exc) from exc

    def _parse(self, state: RegistryState, schema_id: int) -> ParsedSchema:
        if schema_id not in self._parsed:
            self._parsed[schema_id] = parse_avro(state.schemas[schema_id])[0]
        return self._parsed[schema_id]

    def _append(self, records: list[Record]) -> None:
        try:
            self._store.append(records)
        except StoreError as exc:
            raise ApiError(50002 if exc.timed_out else 50001, detail=exc) from exc

    @staticmethod
    def _live(state: RegistryState, subject: str, query: Query) -> list[SubjectVersion]:
        """The subject's versions (soft-deleted ones too with ``?deleted=true``), or 40401."""
        entries = state.versions(subject, deleted=_flag(query, "deleted"))
        if not entries:
            raise ApiError(40401, subject=subject)
        return entries

    # Schemas by id --------------------------------------------------------------

    def _schema_by_id(self, args: Args, query: Query, body: Any) -> object:
        with self._store.reading() as state:
            if int(args[0]) not in state.schemas:
                raise ApiError(40403, schema=args[0])
            return {"schema": state.schemas[int(args[0])]}

    def _uses_of(self, args: Args, query: Query) -> list[SubjectVersion]:
        with self._store.reading() as state:
            if int(args[0]) not in state.schemas:
                raise ApiError(40403, schema=args[0])
            deleted = _flag(query, "deleted")
            every = [e for s in sorted(state.subjects) for e in state.versions(s, deleted=deleted)]
            return [entry for entry in every if entry.schema_id == int(args[0])]

    def _versions_by_id(self, args: Args, query: Query, body: Any) -> object:
        uses = self._uses_of(args, query)
        return _page([{"subject": e.subject, "version": e.version} for e in uses], query)

    def _subjects_by_id(self, args: Args, query: Query, body: Any) -> object:
        return _page(sorted({e.subject for e in self._uses_of(args, query)}), query)

    # Subjects and versions -------------------------------------------------------

    def _list_subjects(self, args: Args, query: Query, body: Any) -> object:
        prefix = query.get("subjectPrefix", [""])[-1]
        deleted, deleted_only = _flag(query, "deleted"), _flag(query, "deleted_only")
        with self._store.reading() as state:
            names = [name for name in sorted(state.subjects) if name.startswith(prefix)]
            live = {name for name in names if state.versions(name)}
        if deleted_only:
            return _page([name for name in names if name not in live], query)
        return _page(names if deleted else [name for name in names if name in live], query)

    def _list_versions(self, args: Args, query: Query, body: Any) -> object:
        deleted_only = _flag(query, "deleted_only")
        deleted = deleted_only or _flag(query, "deleted")
        with self._store.reading() as state:
            entries = self._live(state, args[0], {"deleted": [str(deleted)]})
        return _page([e.version for e in entries if e.deleted or not deleted_only], query)

    def _get_version(self, args: Args, query: Query, body: Any) -> object:
        with self._store.reading() as state:
            return _version_body(state, _find(self._live(state, args[0], query), args[1]))

    def _lookup(self, args: Args, query: Query, body: Any) -> object:
        _, canonical = _schema_from(body)
        with self._store.reading() as state:
            for entry in reversed(self._live(state, args[0], query)):
                if state.schemas[entry.schema_id] == canonical:
                    return _version_body(state, entry)
        raise ApiError(40403, schema=f"under subject '{args[0]}'")

    def _register(self, args: Args, query: Query, body: Any) -> object:
        subject: str = args[0]
        parsed, canonical = _schema_from(body)
        with self._store.writing() as state:
            live = state.versions(subject)
            for entry in live:
                if state.schemas[entry.schema_id] == canonical:
                    return {"id": entry.schema_id}
            earlier = [self._parse(state, entry.schema_id) for entry in live]
            problems = compatibility_problems(state.level(subject), parsed, earlier)
            if problems:
                raise ApiError(409, subject=subject, detail="; ".join(problems))
            records: list[Record] = []
            schema_id = state.ids.get(canonical)
            if schema_id is None:
                schema_id = state.next_id()
                records.append(id_record(schema_id, canonical))
            # Soft-deleted versions keep their numbers: a new version comes after them.
            version = max((e.version for e in state.versions(subject, deleted=True)), default=0)
            entry = SubjectVersion(subject=subject, version=version + 1, schema_id=schema_id)
            self._append([*records, version_record(entry)])
        return {"id": schema_id}

    def _delete_subject(self, args: Args, query: Query, body: Any) -> object:
        subject: str = args[0]
        permanent = _flag(query, "permanent")
        with self._store.writing() as state:
            entries = self._live(state, subject, {"deleted": ["true"]})
            live = [entry for entry in entries if not entry.deleted]
            if permanent and live:
                raise ApiError(40405, subject=subject)
            if not permanent and not live:
                raise ApiError(40404, subject=subject)
            if permanent:
                records = [version_record(entry, removed=True) for entry in entries]
            else:
                entries = live
                records = [version_record(replace(entry, deleted=True)) for entry in live]
            if subject in state.levels:  # the subject's compatibility level goes with it
                records.append(level_record(subject, None))
            self._append(records)
        return [entry.version for entry in entries]

    def _delete_version(self, args: Args, query: Query, body: Any) -> object:
        subject: str = args[0]
        permanent = _flag(query, "permanent")
        # "latest" means the latest live version; a number may name a soft-deleted one.
        explicit = permanent or args[1] is not None
        with self._store.writing() as state:
            entry = _find(self._live(state, subject, {"deleted": [str(explicit)]}), args[1])
            if permanent != entry.deleted:
                raise ApiError(
                    40407 if permanent else 40406, subject=subject, version=entry.version
                )
            removal = version_record(entry, removed=True)
            self._append([removal if permanent else version_record(replace(entry, deleted=True))])
        return entry.version

    # Compatibility ---------------------------------------------------------------

    def _get_config(self, args: Args, query: Query, body: Any) -> object:
        subject: str | None = args[0]
        with self._store.reading() as state:
            if subject is None or subject in state.levels or _flag(query, "defaultToGlobal"):
                return {"compatibilityLevel": state.level(subject)}
        raise ApiError(40408, subject=subject)

    def _put_config(self, args: Args, query: Query, body: Any) -> object:
        request = _fields(body)
        level = request.get("compatibility") or request.get("compatibilityLevel")
        level = level.upper() if isinstance(level, str) else None
        if level not in COMPATIBILITY_LEVELS:
            raise ApiError(42203)
        with self._store.writing():
            self._append([level_record(args[0], level)])
        return {"compatibility": level}

    def _delete_config(self, args: Args, query: Query, body: Any) -> object:
        subject: str | None = args[0]
        with self._store.writing() as state:
            if subject is not None and subject not in state.levels:
                raise ApiError(40401, subject=subject)
            old = state.level(subject)
            self._append([level_record(subject, None)])
        return {"compatibilityLevel": old}

    def _check(self, args: Args, query: Query, body: Any) -> object:
        """Test a schema against one version (``args[1]``), the latest, or "all" per the level."""
        parsed, _ = _schema_from(body)
        with self._store.reading() as state:
            targets = state.versions(args[0])
            if args[1] is None:
                # Confluent: a subject without versions has nothing to be incompatible with.
                targets = targets[-1:]
            elif args[1] != "all":
                targets = [_find(self._live(state, args[0], {}), args[1])]
            earlier = [self._parse(state, entry.schema_id) for entry in targets]
            problems = compatibility_problems(state.level(args[0]), parsed, earlier)
        if _flag(query, "verbose"):
            return {"is_compatible": not problems, "messages": problems}
        return {"is_compatible": not problems}
