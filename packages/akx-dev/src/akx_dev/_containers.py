"""Kafka and Schema Registry in Docker containers, for machines with a Docker daemon."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator
from typing import Any

from ._stack import KafkaStack

__all__ = ["container_stack", "docker_available"]

_KAFKA_IMAGE = "confluentinc/cp-kafka:7.7.1"
_REGISTRY_IMAGE = "confluentinc/cp-schema-registry:7.7.1"


def docker_available() -> bool:
    """Whether a Docker daemon answers a ping within a second."""
    host = os.environ.get("DOCKER_HOST", "")
    # Without DOCKER_HOST, the daemon can only be on the default socket: don't
    # even build a client (it would leave a socket open) when that is missing.
    if not host and not os.path.exists("/var/run/docker.sock"):
        return False
    try:
        import docker

        client: Any = docker.from_env(timeout=1)  # pyright: ignore[reportUnknownMemberType]
    except Exception:
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


@contextlib.contextmanager
def container_stack() -> Generator[KafkaStack, None, None]:  # pragma: no cover - needs Docker
    """Run Kafka (KRaft) and Confluent Schema Registry containers on one network."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.network import Network
    from testcontainers.core.waiting_utils import wait_for_logs
    from testcontainers.kafka import KafkaContainer

    with Network() as network:
        kafka: Any = KafkaContainer(_KAFKA_IMAGE).with_kraft()  # pyright: ignore[reportUnknownMemberType]
        kafka.with_network(network).with_network_aliases("kafka")
        with kafka:
            registry: Any = (
                DockerContainer(_REGISTRY_IMAGE)
                .with_network(network)
                .with_exposed_ports(8081)
                .with_env("SCHEMA_REGISTRY_HOST_NAME", "schema-registry")
                .with_env("SCHEMA_REGISTRY_LISTENERS", "http://0.0.0.0:8081")
                .with_env("SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS", "BROKER://kafka:9092")
            )
            with registry:
                wait_for_logs(registry, "Server started", timeout=120)
                host = registry.get_container_host_ip()
                port = registry.get_exposed_port(8081)
                yield KafkaStack(
                    bootstrap_servers=kafka.get_bootstrap_server(),
                    schema_registry_url=f"http://{host}:{port}",
                    kind="testcontainers",
                )
