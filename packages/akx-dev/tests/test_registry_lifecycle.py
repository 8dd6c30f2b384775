"""The development registry's own life: persistence in Kafka, restarts, start failures.

Each test runs its own registries on a topic of its own (on the session's broker),
so these tests never touch the shared registry's state.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from akx_dev import DevSchemaRegistry, KafkaStack, RegistryStartError, free_port

V1 = Schema(json.dumps({"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}))
V2 = Schema(
    json.dumps(
        {
            "type": "record",
            "name": "R",
            "fields": [{"name": "a", "type": "int"}, {"name": "b", "type": "int", "default": 0}],
        }
    )
)
OTHER = Schema(json.dumps({"type": "enum", "name": "E", "symbols": ["X", "Y"]}))


@pytest.fixture
def make_registry(kafka_stack: KafkaStack) -> Iterator[Callable[..., DevSchemaRegistry]]:
    """Start registries on one fresh topic; every one is stopped at the end."""
    topic = f"_schemas-test-{uuid.uuid4().hex[:8]}"
    registries: list[DevSchemaRegistry] = []

    def make(**options: object) -> DevSchemaRegistry:
        registry = DevSchemaRegistry(
            kafka_stack.bootstrap_servers,
            topic=topic,
            consumer_settings=kafka_stack.consumer_settings(),
            producer_settings=kafka_stack.producer_settings(),
            **options,  # pyright: ignore[reportArgumentType]
        )
        registries.append(registry)
        return registry.start()

    yield make
    for registry in registries:
        registry.stop()


def client_of(registry: DevSchemaRegistry) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": registry.url})


def test_ids_versions_levels_and_deletions_survive_a_restart(
    make_registry: Callable[..., DevSchemaRegistry],
) -> None:
    first = make_registry()
    with client_of(first) as client:
        v1_id = client.register_schema("orders-value", V1)
        v2_id = client.register_schema("orders-value", V2)
        other_id = client.register_schema("gone-value", OTHER)
        client.delete_subject("gone-value")
        client.set_compatibility("orders-value", "FULL")
        client.set_compatibility(level="NONE")
    first.stop()

    second = make_registry()
    with client_of(second) as client:
        assert client.get_versions("orders-value") == [1, 2]
        assert client.get_version("orders-value", 1).schema_id == v1_id
        assert client.get_latest_version("orders-value").schema_id == v2_id
        assert client.get_compatibility("orders-value") == "FULL"
        assert client.get_compatibility() == "NONE"
        assert "gone-value" not in client.get_subjects()
        assert client.get_versions("gone-value", deleted=True) == [1]
        # An id is never handed out twice, and a known schema keeps its id.
        assert client.register_schema("other-value", V1) == v1_id
        assert client.get_schema(other_id).schema_str is not None
        new_id = client.register_schema(
            "new-value", Schema(json.dumps({"type": "fixed", "name": "F", "size": 4}))
        )
        assert new_id > max(v1_id, v2_id, other_id)


def test_a_second_registry_on_the_topic_sees_the_first_ones_changes(
    make_registry: Callable[..., DevSchemaRegistry],
) -> None:
    first = make_registry()
    with client_of(first) as client:
        v1_id = client.register_schema("orders-value", V1)
    second = make_registry()
    with client_of(second) as client:
        assert client.get_version("orders-value", 1).schema_id == v1_id
        v2_id = client.register_schema("orders-value", V2)
    # The first registry keeps reading the topic, so it learns of the second one's write.
    deadline = time.monotonic() + 5
    with client_of(first) as client:
        while client.get_versions("orders-value") != [1, 2]:
            assert time.monotonic() < deadline, "the first registry never saw version 2"
            time.sleep(0.02)
        assert client.get_version("orders-value", 2).schema_id == v2_id


def test_global_compatibility_defaults_to_backward_and_resets(
    make_registry: Callable[..., DevSchemaRegistry],
) -> None:
    with client_of(make_registry()) as client:
        assert client.get_compatibility() == "BACKWARD"
        client.set_compatibility(level="FULL_TRANSITIVE")
        assert str(client.get_config().compatibility_level) == "FULL_TRANSITIVE"
        assert str(client.delete_config().compatibility_level) == "FULL_TRANSITIVE"
        assert client.get_compatibility() == "BACKWARD"


def test_fixed_port_lifecycle_and_idempotent_stop(
    make_registry: Callable[..., DevSchemaRegistry],
) -> None:
    port = free_port()
    registry = make_registry(port=port)
    assert (registry.port, registry.url) == (port, f"http://127.0.0.1:{port}")
    assert registry.start() is registry  # starting a running registry is a no-op
    registry.stop()
    registry.stop()
    with pytest.raises(RuntimeError, match="not running"):
        _ = registry.url
    with pytest.raises(RegistryStartError, match="cannot start again"):
        registry.start()


def test_context_manager_serves_then_stops(kafka_stack: KafkaStack) -> None:
    topic = f"_schemas-test-{uuid.uuid4().hex[:8]}"
    with DevSchemaRegistry(kafka_stack.bootstrap_servers, topic=topic) as registry:
        with client_of(registry) as client:
            assert client.get_subjects() == []
        port = registry.port
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the port must be closed after stop"


def test_start_fails_when_the_port_is_taken(kafka_stack: KafkaStack) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        registry = DevSchemaRegistry(kafka_stack.bootstrap_servers, port=port)
        with pytest.raises(RegistryStartError, match=f"127.0.0.1:{port}"):
            registry.start()


def test_start_fails_in_bounded_time_when_kafka_is_unreachable() -> None:
    bootstrap = f"127.0.0.1:{free_port()}"
    registry = DevSchemaRegistry(bootstrap, start_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(RegistryStartError, match=bootstrap):
        registry.start()
    assert time.monotonic() - started < 5
    with pytest.raises(RuntimeError):
        _ = registry.port  # nothing is left listening
