"""Contract tests: the Schema Registry as confluent-kafka's client and Avro serdes see it.

They drive the registry only through ``SchemaRegistryClient``, ``AvroSerializer`` and
``AvroDeserializer``, so the same tests run against a real Confluent registry: set
``AKX_SCHEMA_REGISTRY_URL`` to point them at one.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from akx_dev import KafkaStack

LEVELS = {
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
}


@pytest.fixture(scope="module")
def registry_url(request: pytest.FixtureRequest) -> str:
    url = os.environ.get("AKX_SCHEMA_REGISTRY_URL")
    if url:
        return url
    stack: KafkaStack = request.getfixturevalue("kafka_stack")
    return stack.schema_registry_url


@pytest.fixture
def new_client(registry_url: str) -> Iterator[Callable[[], SchemaRegistryClient]]:
    """A factory of clients: a fresh client has no cache, so every call reaches the server."""
    clients: list[SchemaRegistryClient] = []

    def make() -> SchemaRegistryClient:
        clients.append(SchemaRegistryClient({"url": registry_url}))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(new_client: Callable[[], SchemaRegistryClient]) -> SchemaRegistryClient:
    return new_client()


@pytest.fixture
def subject() -> str:
    return f"akx-registry-{uuid.uuid4().hex[:12]}-value"


def record(*fields: dict[str, Any], name: str = "Order") -> Schema:
    body = {"type": "record", "name": name, "namespace": "akx.test", "fields": list(fields)}
    return Schema(json.dumps(body), "AVRO")


def field(name: str, kind: str = "int", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, **extra}


A = field("a")
B_REQUIRED = field("b", "string")
B_DEFAULT = field("b", "string", default="")


def field_names(schema: Schema) -> list[str]:
    assert schema.schema_str is not None
    return [f["name"] for f in json.loads(schema.schema_str)["fields"]]


def registry_error(call: Callable[[], object]) -> SchemaRegistryError:
    with pytest.raises(SchemaRegistryError) as caught:
        call()
    return caught.value


# Registration and lookups -----------------------------------------------------------


def test_same_schema_gets_the_same_id_in_every_subject(
    new_client: Callable[[], SchemaRegistryClient], subject: str
) -> None:
    schema_id = new_client().register_schema(subject, record(A))
    # Fresh clients, so the answers come from the server, not the client's cache.
    assert new_client().register_schema(subject, record(A)) == schema_id
    # Whitespace and key order do not make a different schema.
    respelled = """{
        "fields": [{"type": "int", "name": "a"}],
        "namespace": "akx.test", "name": "Order", "type": "record"
    }"""
    assert new_client().register_schema(subject, Schema(respelled, "AVRO")) == schema_id
    assert new_client().register_schema(f"{subject}-other", record(A)) == schema_id
    assert new_client().get_versions(subject) == [1]


def test_versions_are_numbered_and_found(client: SchemaRegistryClient, subject: str) -> None:
    first = client.register_schema(subject, record(A))
    second = client.register_schema(subject, record(A, B_DEFAULT))
    assert second != first
    assert client.get_versions(subject) == [1, 2]
    assert client.get_version(subject, 1).schema_id == first
    latest = client.get_latest_version(subject)
    assert (latest.subject, latest.version, latest.schema_id) == (subject, 2, second)
    assert field_names(latest.schema) == ["a", "b"]
    found = client.lookup_schema(subject, record(A))
    assert (found.subject, found.version, found.schema_id) == (subject, 1, first)


def test_schema_by_id_and_where_it_is_used(
    new_client: Callable[[], SchemaRegistryClient], subject: str
) -> None:
    client = new_client()
    schema_id = client.register_schema(subject, record(A, name="Shared"))
    client.register_schema(f"{subject}-2", record(A, name="Shared"))
    fetched = new_client().get_schema(schema_id)
    assert fetched.schema_type == "AVRO"
    assert json.loads(fetched.schema_str or "")["name"] == "Shared"
    uses = {(v.subject, v.version) for v in client.get_schema_versions(schema_id)}
    assert uses == {(subject, 1), (f"{subject}-2", 1)}
    assert sorted(client.get_subjects_by_schema_id(schema_id)) == [subject, f"{subject}-2"]
    error = registry_error(lambda: new_client().get_schema(2_000_000_000))
    assert (error.http_status_code, error.error_code) == (404, 40403)


def test_subjects_are_listed_and_filtered_by_prefix(
    client: SchemaRegistryClient, subject: str
) -> None:
    client.register_schema(f"{subject}-x", record(A))
    client.register_schema(f"{subject}-y", record(A))
    assert {f"{subject}-x", f"{subject}-y"} <= set(client.get_subjects())
    assert client.get_subjects(subject_prefix=subject) == [f"{subject}-x", f"{subject}-y"]


def test_missing_subjects_versions_and_schemas_are_errors(
    client: SchemaRegistryClient, subject: str
) -> None:
    client.register_schema(subject, record(A))
    cases = [
        (lambda: client.get_versions(f"{subject}-nope"), 404, 40401),
        (lambda: client.get_version(f"{subject}-nope", 1), 404, 40401),
        (lambda: client.get_version(subject, 99), 404, 40402),
        (lambda: client.get_version(subject, 0), 422, 42202),
        (lambda: client.lookup_schema(f"{subject}-nope", record(A)), 404, 40401),
        (lambda: client.lookup_schema(subject, record(A, B_DEFAULT)), 404, 40403),
    ]
    for call, status, code in cases:
        error = registry_error(call)
        assert (error.http_status_code, error.error_code) == (status, code), error


@pytest.mark.parametrize(
    "schema",
    [
        '{"type": "record", "name": "NoFields"}',
        '{"type": "record", "name": "R", "fields": [{"name": "a", "type": "int", "default": "x"}]}',
        '{"type": "nosuchtype"}',
        "not json",
    ],
    ids=["no-fields", "bad-default", "unknown-type", "not-json"],
)
def test_invalid_schemas_are_rejected(
    client: SchemaRegistryClient, subject: str, schema: str
) -> None:
    error = registry_error(lambda: client.register_schema(subject, Schema(schema, "AVRO")))
    assert (error.http_status_code, error.error_code) == (422, 42201)


# Deletion ---------------------------------------------------------------------------


def test_soft_then_permanent_subject_delete(
    new_client: Callable[[], SchemaRegistryClient], subject: str
) -> None:
    client = new_client()
    schema_id = client.register_schema(subject, record(A))
    error = registry_error(lambda: client.delete_subject(subject, permanent=True))
    assert (error.http_status_code, error.error_code) == (404, 40405)

    assert client.delete_subject(subject) == [1]
    assert subject not in client.get_subjects()
    assert subject in client.get_subjects(deleted=True)
    assert registry_error(lambda: client.get_versions(subject)).error_code == 40401
    assert client.get_versions(subject, deleted=True) == [1]
    assert registry_error(lambda: client.delete_subject(subject)).error_code == 40404
    # The schema itself stays readable: old messages must still decode.
    assert new_client().get_schema(schema_id).schema_str

    assert client.delete_subject(subject, permanent=True) == [1]
    assert subject not in client.get_subjects(deleted=True)
    assert registry_error(lambda: client.delete_subject(subject)).error_code == 40401


def test_soft_then_permanent_version_delete(
    new_client: Callable[[], SchemaRegistryClient], subject: str
) -> None:
    client = new_client()
    client.register_schema(subject, record(A))
    client.register_schema(subject, record(A, B_DEFAULT))
    assert client.delete_version(subject, 2) == 2
    assert client.get_versions(subject) == [1]
    assert client.get_versions(subject, deleted=True) == [1, 2]
    assert new_client().get_latest_version(subject).version == 1
    assert registry_error(lambda: new_client().get_version(subject, 2)).error_code == 40402
    assert registry_error(lambda: client.delete_version(subject, 2)).error_code == 40406
    assert registry_error(lambda: client.delete_version(subject, 1, True)).error_code == 40407
    assert registry_error(lambda: client.delete_version(subject, 7)).error_code == 40402
    assert client.delete_version(subject, 2, permanent=True) == 2
    assert client.get_versions(subject, deleted=True) == [1]


# Compatibility ----------------------------------------------------------------------


def test_subject_compatibility_level_is_set_read_and_removed(
    client: SchemaRegistryClient, subject: str
) -> None:
    assert client.get_compatibility() in LEVELS
    client.register_schema(subject, record(A))
    error = registry_error(lambda: client.get_compatibility(subject))
    assert (error.http_status_code, error.error_code) == (404, 40408)
    client.set_compatibility(subject, "full")
    assert client.get_compatibility(subject) == "FULL"
    assert str(client.get_config(subject).compatibility_level) == "FULL"
    assert str(client.delete_config(subject).compatibility_level) == "FULL"
    assert registry_error(lambda: client.get_compatibility(subject)).error_code == 40408
    error = registry_error(lambda: client.set_compatibility(subject, "sideways"))
    assert (error.http_status_code, error.error_code) == (422, 42203)


F = field("f", "string")
G = field("g")
G_DEFAULT = field("g", default=0)
A_DEFAULT = field("a", default=0)
B_INT_DEFAULT = field("b", default=0)

# (level, schemas already registered, candidate, compatible?)
COMPATIBILITY_CASES = [
    ("BACKWARD", [[A]], [A, B_REQUIRED], False),  # new reader lacks a default for b
    ("BACKWARD", [[A]], [A, B_DEFAULT], True),
    ("BACKWARD", [[A, B_REQUIRED]], [A], True),  # a reader ignores extra written fields
    ("FORWARD", [[A, B_REQUIRED]], [A], False),  # the old reader needs b
    ("FORWARD", [[A]], [A, B_REQUIRED], True),
    ("FULL", [[A]], [A, B_REQUIRED], False),
    ("FULL", [[A]], [A, B_DEFAULT], True),
    ("FULL", [[A], [A_DEFAULT]], [B_INT_DEFAULT], True),
    ("FULL_TRANSITIVE", [[A], [A_DEFAULT]], [B_INT_DEFAULT], False),  # v1 cannot read it
    ("NONE", [[A]], [field("a", "string")], True),
    ("BACKWARD", [[F], [F, G_DEFAULT]], [G], True),
    ("BACKWARD_TRANSITIVE", [[F], [F, G_DEFAULT]], [G], False),  # cannot read v1's data
    ("FORWARD", [[G], [F, G_DEFAULT]], [F], True),
    ("FORWARD_TRANSITIVE", [[G], [F, G_DEFAULT]], [F], False),  # v1 cannot read it
]


@pytest.mark.parametrize(("level", "history", "candidate", "compatible"), COMPATIBILITY_CASES)
def test_compatibility_level_is_enforced_on_registration(
    client: SchemaRegistryClient,
    subject: str,
    level: str,
    history: list[list[dict[str, Any]]],
    candidate: list[dict[str, Any]],
    compatible: bool,
) -> None:
    client.set_compatibility(subject, "NONE")
    for fields in history:
        client.register_schema(subject, record(*fields))
    client.set_compatibility(subject, level)
    schema = record(*candidate)

    assert client.test_compatibility_all_versions(subject, schema) is compatible
    if not level.endswith("_TRANSITIVE"):
        assert client.test_compatibility(subject, schema, verbose=True) is compatible
    if compatible:
        client.register_schema(subject, schema)
        assert client.get_versions(subject) == list(range(1, len(history) + 2))
    else:
        error = registry_error(lambda: client.register_schema(subject, schema))
        assert (error.http_status_code, error.error_code) == (409, 409)
        assert client.get_versions(subject) == list(range(1, len(history) + 1))


def test_compatibility_against_one_version(client: SchemaRegistryClient, subject: str) -> None:
    client.set_compatibility(subject, "NONE")
    client.register_schema(subject, record(A))
    client.register_schema(subject, record(A, B_REQUIRED))
    client.set_compatibility(subject, "BACKWARD")
    candidate = record(A, B_REQUIRED, field("c"))
    assert client.test_compatibility(subject, candidate, version=1) is False
    assert client.test_compatibility(subject, record(A, B_REQUIRED), version=1) is False
    assert client.test_compatibility(subject, record(A), version=2) is True
    error = registry_error(lambda: client.test_compatibility(subject, candidate, version=9))
    assert (error.http_status_code, error.error_code) == (404, 40402)
    error = registry_error(lambda: client.test_compatibility(f"{subject}-x", candidate, version=1))
    assert (error.http_status_code, error.error_code) == (404, 40401)


def test_schema_types_and_mode(client: SchemaRegistryClient) -> None:
    assert "AVRO" in client.get_schema_types()
    assert client.get_global_mode() == "READWRITE"


# Serializer and deserializer --------------------------------------------------------


def serializer(client: SchemaRegistryClient, schema: Schema, **conf: Any) -> AvroSerializer:
    # The serdes assign __init__ = __init_impl, which hides the parameters from pyright.
    return AvroSerializer(client, schema.schema_str, conf=conf)  # pyright: ignore[reportCallIssue]


def deserializer(client: SchemaRegistryClient, **conf: Any) -> AvroDeserializer:
    return AvroDeserializer(client, conf=conf)  # pyright: ignore[reportCallIssue]


def test_avro_round_trip_with_auto_registration(
    new_client: Callable[[], SchemaRegistryClient], subject: str
) -> None:
    context = SerializationContext(subject.removesuffix("-value"), MessageField.VALUE)
    payload = serializer(new_client(), record(A, B_DEFAULT))({"a": 7, "b": "x"}, context)
    assert payload is not None
    # A new client has no cache, so the deserializer asks the registry for the id.
    assert deserializer(new_client())(payload, context) == {"a": 7, "b": "x"}
    registered = new_client().get_latest_version(subject)
    assert int.from_bytes(payload[1:5], "big") == registered.schema_id


def test_serializer_uses_latest_version_or_looks_schemas_up(
    new_client: Callable[[], SchemaRegistryClient], subject: str
) -> None:
    context = SerializationContext(subject.removesuffix("-value"), MessageField.VALUE)
    old, new = record(A), record(A, B_DEFAULT)
    client = new_client()
    old_id = client.register_schema(subject, old)
    new_id = client.register_schema(subject, new)

    looked_up = serializer(new_client(), old, **{"auto.register.schemas": False})
    payload = looked_up({"a": 1}, context)
    assert payload is not None
    assert int.from_bytes(payload[1:5], "big") == old_id

    latest_conf = {"auto.register.schemas": False, "use.latest.version": True}
    payload = serializer(new_client(), old, **latest_conf)({"a": 2, "b": "y"}, context)
    assert payload is not None
    assert int.from_bytes(payload[1:5], "big") == new_id
    reader = deserializer(new_client(), **{"use.latest.version": True})
    assert reader(payload, context) == {"a": 2, "b": "y"}

    unknown = serializer(new_client(), record(field("z")), **{"auto.register.schemas": False})
    with pytest.raises(SchemaRegistryError) as caught:
        unknown({"z": 1}, context)
    assert caught.value.error_code == 40403


def test_concurrent_registrations_get_distinct_versions_and_ids(
    client: SchemaRegistryClient, subject: str
) -> None:
    client.set_compatibility(subject, "NONE")
    schemas = [record(field(f"f{n}")) for n in range(12)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = list(pool.map(lambda schema: client.register_schema(subject, schema), schemas))
    assert len(set(ids)) == len(schemas)
    assert client.get_versions(subject) == list(range(1, len(schemas) + 1))
    by_version = {client.get_version(subject, v).schema_id for v in range(1, len(schemas) + 1)}
    assert by_version == set(ids)
