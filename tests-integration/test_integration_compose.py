"""docker-compose.yml describes the stack the README promises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


def _services() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    return document["services"]


def test_services_and_ports() -> None:
    services = _services()
    assert set(services) == {"kafka", "schema-registry", "control-center"}
    assert "9092:9092" in services["kafka"]["ports"]
    assert "8081:8081" in services["schema-registry"]["ports"]
    assert "9021:9021" in services["control-center"]["ports"]


def test_kafka_runs_kraft_without_zookeeper() -> None:
    services = _services()
    assert not any("zookeeper" in name for name in services)
    env = services["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "CONTROLLER" in env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert "localhost:9092" in env["KAFKA_ADVERTISED_LISTENERS"]


def test_every_service_has_a_healthcheck_and_waits_for_healthy_dependencies() -> None:
    services = _services()
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert check["test"], f"{name} has an empty healthcheck"
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services
            assert condition == {"condition": "service_healthy"}, (name, dependency)
    assert "kafka" in services["schema-registry"]["depends_on"]
    assert set(services["control-center"]["depends_on"]) == {"kafka", "schema-registry"}
