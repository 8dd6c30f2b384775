"""The development stack: a broker and a Schema Registry, wherever they come from."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ._broker import EmbeddedBroker
from ._settings import EMBEDDED_CONSUMER_SETTINGS, EMBEDDED_PRODUCER_SETTINGS

if TYPE_CHECKING:
    from akx_events import KafkaConfig

__all__ = ["BOOTSTRAP_ENV", "REGISTRY_ENV", "KafkaStack", "embedded_stack", "open_stack"]

#: Environment variable naming the bootstrap servers of an existing cluster.
BOOTSTRAP_ENV = "AKX_BOOTSTRAP_SERVERS"
#: Environment variable naming the URL of an existing Schema Registry.
REGISTRY_ENV = "AKX_SCHEMA_REGISTRY_URL"

StackKind = Literal["environment", "testcontainers", "embedded"]


@dataclass(frozen=True, kw_only=True)
class KafkaStack:
    """Where the broker and the Schema Registry of a running stack are.

    Attributes:
        bootstrap_servers: ``host:port`` list for clients.
        schema_registry_url: base URL of a Confluent-compatible Schema Registry.
        kind: where the stack came from.
    """

    bootstrap_servers: str
    schema_registry_url: str
    kind: StackKind

    @property
    def embedded(self) -> bool:
        """Whether this is the embedded Tansu stack (with its documented gaps)."""
        return self.kind == "embedded"

    def consumer_settings(self) -> dict[str, str | int | bool]:
        """Consumer settings suited to this stack (fast joins on the embedded broker)."""
        return dict(EMBEDDED_CONSUMER_SETTINGS) if self.embedded else {}

    def producer_settings(self) -> dict[str, str | int | bool]:
        """Producer settings suited to this stack."""
        return dict(EMBEDDED_PRODUCER_SETTINGS) if self.embedded else {}

    def kafka_config(self, name: str = "akx-test", **overrides: Any) -> KafkaConfig:
        """An akx ``KafkaConfig`` for this stack, with the client settings suited to it.

        Args:
            name: used as name, group id and client id.
            **overrides: any other ``KafkaConfig`` field.
        """
        from akx_events import KafkaConfig, SchemaRegistryConfig

        fields: dict[str, Any] = {
            "name": name,
            "group_id": name,
            "client_id": name,
            "bootstrap_servers": self.bootstrap_servers,
            "schema_registry_config": SchemaRegistryConfig(url=self.schema_registry_url),
            "consumer_extra": self.consumer_settings(),
            "producer_extra": self.producer_settings(),
        }
        fields.update(overrides)
        return KafkaConfig(**fields)


@contextlib.contextmanager
def embedded_stack(
    *, broker_port: int | None = None, registry_port: int | None = None
) -> Generator[KafkaStack, None, None]:
    """Run the embedded broker and the development Schema Registry until the block ends."""
    from ._registry import DevSchemaRegistry

    with (
        EmbeddedBroker(port=broker_port) as broker,
        DevSchemaRegistry(
            broker.bootstrap_servers,
            port=registry_port,
            consumer_settings=EMBEDDED_CONSUMER_SETTINGS,
            producer_settings=EMBEDDED_PRODUCER_SETTINGS,
        ) as registry,
    ):
        yield KafkaStack(
            bootstrap_servers=broker.bootstrap_servers,
            schema_registry_url=registry.url,
            kind="embedded",
        )


@contextlib.contextmanager
def _environment_stack(
    bootstrap: str, registry_url: str | None
) -> Generator[KafkaStack, None, None]:
    if registry_url:
        yield KafkaStack(
            bootstrap_servers=bootstrap, schema_registry_url=registry_url, kind="environment"
        )
        return
    # A cluster without a registry: serve the development registry against it.
    from ._registry import DevSchemaRegistry

    with DevSchemaRegistry(bootstrap) as registry:
        yield KafkaStack(
            bootstrap_servers=bootstrap, schema_registry_url=registry.url, kind="environment"
        )


@contextlib.contextmanager
def open_stack(*, allow_containers: bool = True) -> Generator[KafkaStack, None, None]:
    """Open the stack that tests and demos should use.

    In order: the servers named by ``AKX_BOOTSTRAP_SERVERS`` / ``AKX_SCHEMA_REGISTRY_URL``;
    Kafka and Schema Registry containers when a Docker daemon answers; else the
    embedded stack.
    """
    bootstrap = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if bootstrap:
        with _environment_stack(bootstrap, os.environ.get(REGISTRY_ENV, "").strip() or None) as s:
            yield s
        return
    if allow_containers:
        from ._containers import container_stack, docker_available

        if docker_available():
            with container_stack() as stack:
                yield stack
            return
    with embedded_stack() as stack:
        yield stack
