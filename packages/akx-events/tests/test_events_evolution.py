"""Schema evolution and Schema Registry behaviour: history, resolution, modes, errors."""

from __future__ import annotations

import copy
import io
import json
import uuid
from datetime import datetime, timezone
from typing import Any

import avro.compatibility
import avro.schema
import fastavro
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry import SchemaRegistryError as ConfluentRegistryError

from akx_events import (
    EVENT_TYPES,
    AgentRef,
    EventDecodeError,
    EventSerde,
    RegistrationEvent,
    RequestEvent,
    SchemaIncompatibleError,
    SchemaRegistryConfig,
    SchemaRegistryError,
    UnknownSchemaError,
    create_registry_client,
    event_schema,
    event_schema_history,
    event_subject,
)

WHEN = datetime(2025, 5, 6, 7, 8, 9, 10, tzinfo=timezone.utc)


def can_read(reader: dict[str, Any], writer: dict[str, Any]) -> tuple[bool, set[str]]:
    """Whether data written with ``writer`` can be read with ``reader`` (Avro spec rules)."""
    result = avro.compatibility.ReaderWriterCompatibilityChecker().get_compatibility(
        avro.schema.parse(json.dumps(reader)), avro.schema.parse(json.dumps(writer))
    )
    compatible = result.compatibility is avro.compatibility.SchemaCompatibilityType.compatible
    return compatible, set(result.messages)


def without_docs(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: without_docs(v) for k, v in node.items() if k != "doc"}  # pyright: ignore[reportUnknownVariableType]
    if isinstance(node, list):
        return [without_docs(v) for v in node]  # pyright: ignore[reportUnknownVariableType]
    return node


# --- the shipped schemas ------------------------------------------------------------------


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda c: c.__name__)
def test_current_schema_reads_every_released_version(cls: type[Any]) -> None:
    """BACKWARD_TRANSITIVE: the shipped schema reads data written with any earlier one."""
    history = event_schema_history(cls)

    assert history, f"schemas/history/{cls.__name__}/ holds no released version"
    for version, old in history:
        compatible, messages = can_read(event_schema(cls), old)
        assert compatible, f"{cls.__name__} cannot read v{version}: {messages}"


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda c: c.__name__)
def test_current_schema_is_released_in_history(cls: type[Any]) -> None:
    """A changed schema must be added to history as the next version, in the same change."""
    versions = [version for version, _ in event_schema_history(cls)]
    latest = event_schema_history(cls)[-1][1]

    assert versions == list(range(1, len(versions) + 1))
    assert without_docs(latest) == without_docs(event_schema(cls))


def test_a_new_field_without_default_breaks_backward_compatibility() -> None:
    v1 = event_schema_history(RequestEvent)[0][1]
    broken = event_schema(RequestEvent)
    broken["fields"].append({"name": "priority", "type": "int"})
    fixed = event_schema(RequestEvent)
    fixed["fields"].append({"name": "priority", "type": "int", "default": 0})

    assert can_read(broken, v1)[0] is False
    assert any("priority" in message for message in can_read(broken, v1)[1])
    assert can_read(fixed, v1)[0] is True


def test_removing_an_enum_symbol_or_changing_a_type_breaks_it_too() -> None:
    v1 = event_schema_history(RegistrationEvent)[0][1]
    fewer = copy.deepcopy(v1)
    fewer["fields"][2]["type"]["symbols"] = ["register"]
    retyped = copy.deepcopy(v1)
    retyped["fields"][0]["type"] = "long"

    assert can_read(fewer, v1)[0] is False
    assert can_read(retyped, v1)[0] is False


# --- resolution in the decoder ----------------------------------------------------------


def unique_registry() -> SchemaRegistryConfig:
    return SchemaRegistryConfig(url=f"mock://evolution-{uuid.uuid4().hex}")


def write_raw(
    client: SchemaRegistryClient, schema: dict[str, Any], record: dict[str, Any]
) -> tuple[int, bytes]:
    """Register ``schema`` under the event's subject and write ``record`` with it."""
    schema_id = client.register_schema(
        f"{schema['namespace']}.{schema['name']}", Schema(json.dumps(schema), "AVRO")
    )
    stream = io.BytesIO()
    stream.write(b"\x00" + schema_id.to_bytes(4, "big"))
    fastavro.schemaless_writer(stream, fastavro.parse_schema(schema), record)
    return schema_id, stream.getvalue()


def registration_record() -> dict[str, Any]:
    return {"agent_type": "a", "worker_id": "w", "action": "register", "time": WHEN}


def headers_for(cls: type[Any]) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"x"),
        ("ce_source", b"elsewhere"),
        ("ce_type", f"io.akx.events.{cls.__name__}".encode()),
        ("content-type", b"application/avro"),
    ]


def older_registration_schema() -> dict[str, Any]:
    """A RegistrationEvent schema from before ``metadata`` (which has a default)."""
    older = event_schema(RegistrationEvent)
    older["fields"] = [f for f in older["fields"] if f["name"] != "metadata"]
    return older


async def test_records_of_an_older_writer_are_resolved_against_the_current_schema() -> None:
    config = unique_registry()
    serde = EventSerde(config)
    await serde.prepare()
    client = create_registry_client(config)
    schema_id, value = write_raw(client, older_registration_schema(), registration_record())
    headers = headers_for(RegistrationEvent)
    expected = RegistrationEvent(agent_type="a", worker_id="w", action="register", time=WHEN)

    with pytest.raises(UnknownSchemaError) as caught:
        serde.decode(value, headers)
    assert caught.value.schema_id == schema_id
    assert await serde.decode_async(value, headers) == expected
    assert serde.decode(value, headers) == expected  # fetched once, now known


def test_prepare_loads_every_registered_version_for_sync_decoding() -> None:
    config = unique_registry()
    client = create_registry_client(config)
    _, value = write_raw(client, older_registration_schema(), registration_record())

    serde = EventSerde(config)
    serde.prepare_sync()

    event = serde.decode(value, headers_for(RegistrationEvent))
    assert isinstance(event, RegistrationEvent)
    assert event.metadata == {}


async def test_records_of_a_newer_writer_drop_fields_this_version_does_not_know() -> None:
    config = unique_registry()
    serde = EventSerde(config)
    serde.prepare_sync()
    newer = event_schema(RegistrationEvent)
    newer["fields"].append({"name": "zone", "type": "string", "default": ""})
    _, value = write_raw(
        create_registry_client(config), newer, {**registration_record(), "zone": "eu"}
    )

    event = await serde.decode_async(value, headers_for(RegistrationEvent))

    assert event == RegistrationEvent(agent_type="a", worker_id="w", action="register", time=WHEN)


async def test_a_writer_schema_that_cannot_be_resolved_is_a_decode_error() -> None:
    config = unique_registry()
    serde = EventSerde(config)
    serde.prepare_sync()
    clashing = event_schema(RegistrationEvent)
    clashing["fields"][0]["type"] = "long"  # agent_type: string -> long
    record = {**registration_record(), "agent_type": 5, "metadata": {}}
    _, value = write_raw(create_registry_client(config), clashing, record)

    with pytest.raises(EventDecodeError, match="malformed Avro body"):
        await serde.decode_async(value, headers_for(RegistrationEvent))


async def test_a_schema_of_something_else_is_not_an_event() -> None:
    config = unique_registry()
    serde = EventSerde(config)
    serde.prepare_sync()
    other = {"type": "record", "name": "Other", "namespace": "x", "fields": []}
    _, value = write_raw(create_registry_client(config), other, {})

    with pytest.raises(UnknownSchemaError, match="not the schema of an akx event"):
        await serde.decode_async(value, headers_for(RegistrationEvent))


# --- registration modes -------------------------------------------------------------------


def request() -> RequestEvent:
    return RequestEvent(
        message_id="m",
        kind="rpc_request",
        payload=b"p",
        type_name="T",
        recipient=AgentRef(type="a", key="k"),
        time=WHEN,
    )


def test_without_auto_registration_an_unregistered_schema_is_an_error() -> None:
    config = SchemaRegistryConfig(url=unique_registry().url, auto_register_schemas=False)

    with pytest.raises(SchemaRegistryError, match="auto_register_schemas") as caught:
        EventSerde(config).prepare_sync()

    assert "io.akx.events.RequestEvent" in str(caught.value)
    assert config.url in str(caught.value)


def test_without_auto_registration_registered_schemas_are_looked_up() -> None:
    url = unique_registry().url
    registering = EventSerde(SchemaRegistryConfig(url=url))
    registering.prepare_sync()

    production = EventSerde(SchemaRegistryConfig(url=url, auto_register_schemas=False))
    production.prepare_sync()

    for cls in EVENT_TYPES:
        assert production.schema_id(cls) == registering.schema_id(cls)
    value, headers = production.encode(request(), topic="t")
    assert registering.decode(value, headers) == request()


def test_use_latest_version_writes_with_the_latest_registered_schema() -> None:
    url = unique_registry().url
    reader = EventSerde(SchemaRegistryConfig(url=url))
    reader.prepare_sync()
    newer = event_schema(RequestEvent)
    newer["fields"].append({"name": "priority", "type": "int", "default": 5})
    client = create_registry_client(SchemaRegistryConfig(url=url))
    newer_id = client.register_schema(
        event_subject(RequestEvent), Schema(json.dumps(newer), "AVRO")
    )

    writer = EventSerde(
        SchemaRegistryConfig(url=url, auto_register_schemas=False, use_latest_version=True)
    )
    writer.prepare_sync()
    value, headers = writer.encode(request(), topic="t")

    assert writer.schema_id(RequestEvent) == newer_id
    assert int.from_bytes(value[1:5], "big") == newer_id
    parsed = fastavro.parse_schema(newer)
    body: Any = fastavro.schemaless_reader(io.BytesIO(value[5:]), parsed, None)
    assert body["priority"] == 5
    assert writer.decode(value, headers) == request()


def test_use_latest_version_refuses_a_latest_schema_with_fields_we_cannot_fill() -> None:
    url = unique_registry().url
    EventSerde(SchemaRegistryConfig(url=url)).prepare_sync()
    newer = event_schema(RequestEvent)
    newer["fields"].append({"name": "priority", "type": "int"})
    create_registry_client(SchemaRegistryConfig(url=url)).register_schema(
        event_subject(RequestEvent), Schema(json.dumps(newer), "AVRO")
    )
    config = SchemaRegistryConfig(url=url, auto_register_schemas=False, use_latest_version=True)

    with pytest.raises(SchemaIncompatibleError, match="priority"):
        EventSerde(config).prepare_sync()


def test_mock_registries_with_the_same_url_are_shared_in_process() -> None:
    config = unique_registry()

    assert create_registry_client(config) is create_registry_client(config)
    assert create_registry_client(config) is not create_registry_client(unique_registry())


# --- registry failures ------------------------------------------------------------------


def failing_client(status: int) -> SchemaRegistryClient:
    mock_type: Any = type(SchemaRegistryClient.new_client({"url": "mock://failing"}))  # pyright: ignore[reportUnknownMemberType]

    class Failing(mock_type):
        def register_schema(self, *args: Any, **kwargs: Any) -> int:
            raise ConfluentRegistryError(status, status * 100 + 1, "refused by test double")

    return Failing({"url": "mock://failing"})


def test_registry_conflict_is_a_schema_incompatible_error() -> None:
    serde = EventSerde(failing_client(409))

    with pytest.raises(SchemaIncompatibleError, match="incompatible") as caught:
        serde.prepare_sync()

    assert "io.akx.events.RequestEvent" in str(caught.value)
    assert "mock://failing" in str(caught.value)


@pytest.mark.parametrize(("status", "retriable"), [(503, True), (401, False), (422, False)])
def test_other_registry_answers_are_registry_errors(status: int, retriable: bool) -> None:
    serde = EventSerde(failing_client(status))

    with pytest.raises(SchemaRegistryError, match=f"HTTP {status}") as caught:
        serde.prepare_sync()

    assert caught.value.retriable is retriable


def test_an_unreachable_registry_is_a_retriable_error_naming_the_url() -> None:
    from akx_dev import free_port

    url = f"http://127.0.0.1:{free_port()}"
    config = SchemaRegistryConfig(url=url, extra={"max.retries": 0, "timeout": 2})
    serde = EventSerde(config)

    with pytest.raises(SchemaRegistryError, match="unreachable") as caught:
        serde.prepare_sync()

    assert url in str(caught.value)
    assert caught.value.retriable is True
    serde.close()
    serde.close()  # idempotent


async def test_an_unreachable_registry_while_decoding_is_not_a_decode_error() -> None:
    from akx_dev import free_port

    url = f"http://127.0.0.1:{free_port()}"
    serde = EventSerde(SchemaRegistryConfig(url=url, extra={"max.retries": 0}))
    value = b"\x00\x00\x00\x00\x07" + b"\x00" * 8

    with pytest.raises(SchemaRegistryError, match="fetch schema id 7"):
        await serde.decode_async(value, headers_for(RequestEvent))
    serde.close()


def test_credentials_in_the_url_never_reach_error_messages() -> None:
    from akx_dev import free_port

    port = free_port()
    config = SchemaRegistryConfig(
        url=f"http://user:s3cret@127.0.0.1:{port}", extra={"max.retries": 0}
    )

    with pytest.raises(SchemaRegistryError) as caught:
        EventSerde(config).prepare_sync()

    assert "s3cret" not in str(caught.value)
    assert f"127.0.0.1:{port}" in str(caught.value)
