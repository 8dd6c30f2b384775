"""Configuration of the bridge agent and of the request processor, and YAML loading."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Literal

from akx_events import ConfigFile, ConfigurationError, KafkaConfig, kafka_config_from_section

__all__ = [
    "KafkaAgentConfig",
    "RequestProcessorConfig",
    "load_agent_config",
    "topic_subject",
]

# Kafka allows 249 characters; the dead-letter suffix needs room.
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,240}$")
DEAD_LETTER_SUFFIX = ".dlq"


def topic_subject(topic: str) -> str:
    """The Schema Registry subject of a topic's values (TopicNameStrategy)."""
    return f"{topic}-value"


def _check_common(section: str, obj: Any) -> None:
    if not isinstance(obj.kafka_config, KafkaConfig):
        raise ConfigurationError(
            f"{section}.kafka_config",
            f"expected a KafkaConfig, got {type(obj.kafka_config).__name__}",
        )
    if obj.kafka_config.schema_registry_config is None:
        raise ConfigurationError(
            "kafka.schema_registry",
            "the bridge needs Schema Registry for its Avro messages; set schema_registry_config",
        )
    for name in ("request_topic", "response_topic"):
        value = getattr(obj, name)
        if not isinstance(value, str) or not _TOPIC.match(value):
            raise ConfigurationError(
                f"{section}.{name}",
                f"{value!r} is not a valid topic name (1-240 of A-Z a-z 0-9 . _ -)",
            )
    if obj.request_topic == obj.response_topic:
        raise ConfigurationError(
            f"{section}.response_topic", "request and response topics must differ"
        )
    dlq = obj.dead_letter_topic
    if dlq is not None and (not isinstance(dlq, str) or not _TOPIC.match(dlq)):
        raise ConfigurationError(f"{section}.dead_letter_topic", f"{dlq!r} is not a topic name")


def _check_positive(field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigurationError(field, f"{value!r} must be a number > 0")


@dataclass(frozen=True, kw_only=True)
class KafkaAgentConfig:
    """Where a :class:`KafkaStreamingAgent` sends requests and reads replies.

    Attributes:
        kafka_config: how to reach Kafka and Schema Registry (required).
        request_topic: topic the external handler reads requests from.
        response_topic: topic the external handler writes replies to; shared by
            every bridge instance talking to that handler.
        request_timeout: seconds a request waits for its reply.
        dead_letter_topic: where unreadable replies are copied; defaults to
            ``<response_topic>.dlq``.
        create_topics: create missing topics (with ``kafka_config.num_partitions``)
            when the bridge starts.
        start_timeout: seconds the broker has to answer while the bridge starts.
    """

    kafka_config: KafkaConfig
    request_topic: str
    response_topic: str
    request_timeout: float = 30.0
    dead_letter_topic: str | None = None
    create_topics: bool = True
    start_timeout: float = 10.0

    def __post_init__(self) -> None:
        _check_common("agent", self)
        _check_positive("agent.request_timeout", self.request_timeout)
        _check_positive("agent.start_timeout", self.start_timeout)

    @property
    def reply_dead_letter_topic(self) -> str:
        """The dead-letter topic of replies (configured or ``<response_topic>.dlq``)."""
        return self.dead_letter_topic or self.response_topic + DEAD_LETTER_SUFFIX


@dataclass(frozen=True, kw_only=True)
class RequestProcessorConfig:
    """How a :class:`RequestProcessor` reads requests and answers them.

    Attributes:
        kafka_config: how to reach Kafka and Schema Registry (required).
        request_topic: topic read, as a member of the consumer group.
        response_topic: where replies go when a request carries no ``reply-to`` header.
        group_id: consumer group shared by the processors of one handler; defaults
            to ``kafka_config.group_id``.
        dead_letter_topic: where undecodable requests are copied; defaults to
            ``<request_topic>.dlq``.
        max_concurrency: requests handled at the same time by one processor.
        max_batch: most requests answered in one transaction; also how many may wait
            behind the batch in hand before the processor stops fetching.
        start_from: where a group without committed offsets starts reading.
        transactional_id: librdkafka ``transactional.id``; unique per process by default
            (fencing comes from the consumer group generation, KIP-447).
        create_topics: create missing topics when the processor starts.
        start_timeout: seconds the broker has to answer while the processor starts.
    """

    kafka_config: KafkaConfig
    request_topic: str
    response_topic: str
    group_id: str | None = None
    dead_letter_topic: str | None = None
    max_concurrency: int = 100
    max_batch: int = 500
    start_from: Literal["earliest", "latest"] = "earliest"
    transactional_id: str | None = None
    create_topics: bool = True
    start_timeout: float = 10.0

    def __post_init__(self) -> None:
        _check_common("processor", self)
        for name in ("max_concurrency", "max_batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"processor.{name}", f"{value!r} must be an integer >= 1")
        if self.start_from not in ("earliest", "latest"):
            raise ConfigurationError(
                "processor.start_from", f"{self.start_from!r} is not 'earliest' or 'latest'"
            )
        _check_positive("processor.start_timeout", self.start_timeout)

    @classmethod
    def for_agent_config(cls, config: KafkaAgentConfig, **changes: Any) -> RequestProcessorConfig:
        """The processor side of the topics a :class:`KafkaAgentConfig` names."""
        return cls(
            kafka_config=config.kafka_config,
            request_topic=config.request_topic,
            response_topic=config.response_topic,
            create_topics=config.create_topics,
            **changes,
        )

    @property
    def request_dead_letter_topic(self) -> str:
        """The dead-letter topic of requests (configured or ``<request_topic>.dlq``)."""
        return self.dead_letter_topic or self.request_topic + DEAD_LETTER_SUFFIX


def load_agent_config(path: str | os.PathLike[str]) -> KafkaAgentConfig:
    """Read a :class:`KafkaAgentConfig` from the ``kafka:`` and ``agent:`` sections of a YAML file.

    The ``agent:`` section holds ``request_topic`` and ``response_topic`` and
    optionally the other fields of :class:`KafkaAgentConfig` except ``kafka_config``.

    Raises:
        ConfigurationError: naming the file, line and key of the first problem.
    """
    file = ConfigFile(path)
    kafka_config = kafka_config_from_section(file)
    values = dict(file.section("agent"))
    if "kafka_config" in values:
        raise ConfigurationError(
            file.where("agent", "kafka_config"), "Kafka settings belong in the kafka: section"
        )
    for required in ("request_topic", "response_topic"):
        if required not in values:
            raise ConfigurationError(file.where("agent"), f"missing setting {required!r}")
    if kafka_config.schema_registry_config is None:
        raise ConfigurationError(
            file.where("kafka"), "missing schema_registry: the bridge's messages are Avro"
        )
    values["kafka_config"] = kafka_config
    config: KafkaAgentConfig = file.build(KafkaAgentConfig, ("agent",), values)
    return config
