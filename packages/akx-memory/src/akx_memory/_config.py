"""Configuration of :class:`KafkaMemory`, in code or from the ``memory:`` section of a YAML file."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from typing import Any, cast

from akx_events import ConfigFile, ConfigurationError, KafkaConfig, kafka_config_from_section

__all__ = ["KafkaMemoryConfig", "load_memory_config"]

# Kafka topic names: letters, digits, '.', '_' and '-', at most 249 characters; we
# append ".dlq" for the dead-letter topic.
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,240}$")


def _check_count(name: str, value: object, *, allow_none: bool, minimum: int) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(f"memory.{name}", f"{value!r} must be an integer >= {minimum}")


def _check_number(name: str, value: object, *, allow_none: bool, positive: bool) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"memory.{name}", f"{value!r} must be a number")
    if positive and value <= 0:
        raise ConfigurationError(f"memory.{name}", f"{value!r} must be > 0")


@dataclass(frozen=True, kw_only=True)
class KafkaMemoryConfig:
    """Where a :class:`KafkaMemory` keeps its entries and how queries rank them.

    Attributes:
        kafka_config: how to reach Kafka and Schema Registry (a registry is required:
            memory records are Avro ``MemoryEvent`` records).
        memory_topic: the compacted topic holding every session's changes. Each
            session lives on one partition of it (chosen from the session id).
        k: default number of results of :meth:`KafkaMemory.query`; ``None`` returns
            every entry of the session, best first (as AutoGen's ``ListMemory`` does).
        score_threshold: default minimum score of a query result; ``None`` keeps all.
        context_k: how many of the best entries ``update_context`` adds to a model
            context; ``None`` adds them all.
        start_timeout: seconds ``start()`` may take to reach the broker and replay the
            topic before it raises ``ReplayTimeoutError``.
        topic_partitions: partitions of the memory topic when akx creates it;
            ``None`` uses ``kafka_config.num_partitions``. Never add partitions to an
            existing memory topic: sessions would move to other partitions.
        dead_letter_topic: where unreadable records are copied; defaults to
            ``<memory_topic>.dlq``.
    """

    kafka_config: KafkaConfig
    memory_topic: str = "akx-memory"
    k: int | None = None
    score_threshold: float | None = None
    context_k: int | None = 5
    start_timeout: float = 30.0
    topic_partitions: int | None = None
    dead_letter_topic: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.kafka_config, KafkaConfig):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigurationError(
                "memory.kafka_config",
                f"expected a KafkaConfig, got {type(self.kafka_config).__name__}",
            )
        for name in ("memory_topic", "dead_letter_topic"):
            value = getattr(self, name)
            if value is None and name == "dead_letter_topic":
                continue
            if not isinstance(value, str) or not _TOPIC.match(value):
                raise ConfigurationError(
                    f"memory.{name}",
                    f"{value!r} is not a valid topic name (1-240 of A-Z a-z 0-9 . _ -)",
                )
        if self.dead_letter_topic == self.memory_topic:
            raise ConfigurationError("memory.dead_letter_topic", "must differ from memory_topic")
        _check_count("k", self.k, allow_none=True, minimum=0)
        _check_count("context_k", self.context_k, allow_none=True, minimum=0)
        _check_count("topic_partitions", self.topic_partitions, allow_none=True, minimum=1)
        _check_number("score_threshold", self.score_threshold, allow_none=True, positive=False)
        _check_number("start_timeout", self.start_timeout, allow_none=False, positive=True)

    @property
    def dlq_topic(self) -> str:
        """The dead-letter topic actually used."""
        return self.dead_letter_topic or f"{self.memory_topic}.dlq"

    @property
    def partitions(self) -> int:
        """Partitions of the memory topic when akx creates it."""
        return self.topic_partitions or self.kafka_config.num_partitions


def load_memory_config(path: str | os.PathLike[str]) -> KafkaMemoryConfig:
    """Read a :class:`KafkaMemoryConfig` from the ``kafka:`` and ``memory:`` sections of a file.

    The ``memory:`` section is optional and takes the fields of
    :class:`KafkaMemoryConfig` other than ``kafka_config``::

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

    Raises:
        ConfigurationError: naming the file, line and key of the first problem.
    """
    file = ConfigFile(path)
    kafka_config = kafka_config_from_section(file)
    values: dict[str, Any] = dict(file.section("memory", required=False))
    known = {f.name for f in fields(KafkaMemoryConfig)} - {"kafka_config"}
    for key in values:
        if key not in known:
            raise ConfigurationError(
                file.where("memory", key),
                f"unknown setting {key!r}; expected one of {', '.join(sorted(known))}",
            )
    values["kafka_config"] = kafka_config
    return cast(KafkaMemoryConfig, file.build(KafkaMemoryConfig, ("memory",), values))
