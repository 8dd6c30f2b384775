"""Configuration of :class:`KafkaAgentRuntime`."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from akx_events import ConfigurationError, KafkaConfig

__all__ = ["KafkaAgentRuntimeConfig"]

# Kafka topic names: letters, digits, '.', '_' and '-', at most 249 characters. We
# append suffixes (".<agent type>", ".<worker id>"), so keep the base names shorter.
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,180}$")


@dataclass(frozen=True, kw_only=True)
class KafkaAgentRuntimeConfig:
    """Topics and timeouts of a Kafka agent runtime.

    Attributes:
        kafka_config: how to reach Kafka and Schema Registry.
        request_topic: base name of the request topics; requests for agent type ``T``
            travel on ``<request_topic>.T``, read by the consumer group of the
            workers hosting ``T``.
        response_topic: base name of the reply topics; each worker reads its own
            ``<response_topic>.<worker id>``.
        registry_topic: compacted topic of agent type registrations.
        subscription_topic: compacted topic of subscriptions.
        publish_topic: topic that receives a copy of every published message, for
            observers outside the runtime.
        request_timeout: seconds ``send_message`` waits for a reply.
        worker_id: this worker's id; unique per process by default.
        start_timeout: seconds ``start()`` waits for the broker before failing.
    """

    kafka_config: KafkaConfig
    request_topic: str = "agent-requests"
    response_topic: str = "agent-responses"
    registry_topic: str = "agent-registry"
    subscription_topic: str = "agent-subscriptions"
    publish_topic: str = "agent-publish"
    request_timeout: float = 30.0
    worker_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    start_timeout: float = 15.0

    def __post_init__(self) -> None:
        if not isinstance(self.kafka_config, KafkaConfig):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigurationError(
                "runtime.kafka_config",
                f"expected a KafkaConfig, got {type(self.kafka_config).__name__}",
            )
        names = {
            "request_topic": self.request_topic,
            "response_topic": self.response_topic,
            "registry_topic": self.registry_topic,
            "subscription_topic": self.subscription_topic,
            "publish_topic": self.publish_topic,
        }
        for name, value in names.items():
            # Kafka refuses "." and ".." as topic names although the alphabet allows them.
            if (
                not isinstance(value, str)  # pyright: ignore[reportUnnecessaryIsInstance]
                or not _TOPIC.match(value)
                or value in (".", "..")
            ):
                raise ConfigurationError(
                    f"runtime.{name}",
                    f"{value!r} is not a valid topic name (1-180 of A-Z a-z 0-9 . _ -)",
                )
        first_use: dict[str, str] = {}
        for name, value in names.items():
            if value in first_use:
                # Name the second use, so a file error points at the line to change.
                raise ConfigurationError(
                    f"runtime.{name}",
                    f"{value!r} is already the {first_use[value]}; topic names must be distinct",
                )
            first_use[value] = name
        for name in ("request_timeout", "start_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigurationError(f"runtime.{name}", f"{value!r} must be a number > 0")
        if not re.match(r"^[A-Za-z0-9_-]{1,64}$", self.worker_id):
            raise ConfigurationError(
                "runtime.worker_id", f"{self.worker_id!r} must be 1-64 of A-Z a-z 0-9 _ -"
            )
