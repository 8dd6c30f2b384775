"""KafkaMemoryConfig validation and the YAML ``memory:`` section."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from akx_events import ConfigurationError, KafkaConfig, SchemaRegistryConfig
from akx_memory import KafkaMemoryConfig, load_memory_config

KAFKA = KafkaConfig(
    name="m",
    group_id="g",
    client_id="c",
    bootstrap_servers=["localhost:9092"],
    schema_registry_config=SchemaRegistryConfig(url="http://localhost:8081"),
)


def test_defaults_and_derived_names() -> None:
    config = KafkaMemoryConfig(kafka_config=KAFKA, memory_topic="shared-memory")
    assert config.k is None
    assert config.score_threshold is None
    assert config.context_k == 5
    assert config.dlq_topic == "shared-memory.dlq"
    assert config.partitions == KAFKA.num_partitions
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.k = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"memory_topic": "bad topic"}, "memory.memory_topic"),
        ({"dead_letter_topic": "x/y"}, "memory.dead_letter_topic"),
        ({"dead_letter_topic": "t"}, "memory.dead_letter_topic"),
        ({"k": -1}, "memory.k"),
        ({"k": True}, "memory.k"),
        ({"context_k": 1.5}, "memory.context_k"),
        ({"score_threshold": "high"}, "memory.score_threshold"),
        ({"start_timeout": 0}, "memory.start_timeout"),
        ({"topic_partitions": 0}, "memory.topic_partitions"),
        ({"kafka_config": {"bootstrap_servers": "x"}}, "memory.kafka_config"),
    ],
)
def test_invalid_settings_name_the_field(changes: dict[str, object], field: str) -> None:
    values: dict[str, object] = {"kafka_config": KAFKA, "memory_topic": "t", **changes}
    with pytest.raises(ConfigurationError) as info:
        KafkaMemoryConfig(**values)  # type: ignore[arg-type]
    assert info.value.field == field


def test_keyword_only() -> None:
    with pytest.raises(TypeError):
        KafkaMemoryConfig(KAFKA)  # type: ignore[misc]


YAML = """\
kafka:
  name: memory-worker
  bootstrap_servers: "localhost:9092"
  group_id: memory-group
  client_id: memory-client
  schema_registry:
    url: "http://localhost:8081"
memory:
  memory_topic: shared-memory
  k: 10
  score_threshold: 0.5
  context_k: 3
"""


def test_load_memory_config_reads_both_sections(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text(YAML)
    config = load_memory_config(path)
    assert config.memory_topic == "shared-memory"
    assert (config.k, config.score_threshold, config.context_k) == (10, 0.5, 3)
    assert config.kafka_config.bootstrap_servers == ("localhost:9092",)
    assert config.kafka_config.schema_registry_config is not None


def test_memory_section_is_optional(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text(YAML.split("memory:")[0])
    assert load_memory_config(path).memory_topic == "akx-memory"


@pytest.mark.parametrize(
    ("line", "message"),
    [("  topic: x", "unknown setting 'topic'"), ("  start_timeout: -1", "must be > 0")],
)
def test_yaml_mistakes_name_file_line_and_key(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "config.yml"
    path.write_text(YAML + line + "\n")
    with pytest.raises(ConfigurationError, match=message) as info:
        load_memory_config(path)
    assert f"{path}:13" in info.value.field
