"""How topic and consumer-group names derive from the configured base names."""

from __future__ import annotations

import hashlib
import re

from akx_events import TopicSpec

from ._config import KafkaAgentRuntimeConfig

__all__ = ["TopicLayout"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_COMPACT = {"cleanup.policy": "compact"}


def _segment(value: str) -> str:
    """A topic-safe, collision-free rendering of an agent type."""
    safe = _UNSAFE.sub("_", value)[:60]
    if safe == value:
        return value
    # Different types may sanitize alike ("a.b" and "a_b"): the hash tells them apart.
    return f"{safe}-{hashlib.sha1(value.encode()).hexdigest()[:8]}"


class TopicLayout:
    """Topic and group names for one runtime configuration."""

    def __init__(self, config: KafkaAgentRuntimeConfig) -> None:
        self._config = config

    def requests(self, agent_type: str) -> str:
        """The request topic of one agent type."""
        return f"{self._config.request_topic}.{_segment(agent_type)}"

    def request_group(self, agent_type: str) -> str:
        """The consumer group shared by every worker hosting ``agent_type``."""
        return f"akx.{self._config.request_topic}.{_segment(agent_type)}"

    def replies(self, worker_id: str) -> str:
        """The reply topic read by one worker only."""
        return f"{self._config.response_topic}.{worker_id}"

    @property
    def registry(self) -> str:
        """The compacted registration topic."""
        return self._config.registry_topic

    @property
    def subscriptions(self) -> str:
        """The compacted subscription topic."""
        return self._config.subscription_topic

    @property
    def publish(self) -> str | None:
        """The topic carrying a copy of each published message (None: no copies)."""
        return self._config.publish_topic

    def shared_specs(self) -> list[TopicSpec]:
        """The topics every worker of the system uses, with how to create them."""
        replication = self._config.kafka_config.replication_factor
        specs = [
            TopicSpec(
                name=self.registry, partitions=1, replication_factor=replication, config=_COMPACT
            ),
            TopicSpec(
                name=self.subscriptions,
                partitions=1,
                replication_factor=replication,
                config=_COMPACT,
            ),
        ]
        if self.publish is not None:
            specs.append(
                TopicSpec(
                    name=self.publish,
                    partitions=self._config.kafka_config.num_partitions,
                    replication_factor=replication,
                )
            )
        return specs

    def request_spec(self, agent_type: str) -> TopicSpec:
        """The request topic of ``agent_type``, with how to create it."""
        kafka = self._config.kafka_config
        return TopicSpec(
            name=self.requests(agent_type),
            partitions=kafka.num_partitions,
            replication_factor=kafka.replication_factor,
        )

    def journal(self, agent_type: str) -> str:
        """The journal of handled requests of ``agent_type`` (see ``_journal``)."""
        return self.requests(agent_type) + ".journal"

    def states(self, agent_type: str) -> str:
        """The compacted topic of checkpointed agent states of ``agent_type``."""
        return self.requests(agent_type) + ".state"

    def type_specs(self, agent_type: str) -> list[TopicSpec]:
        """The topics of one hosted agent type: requests, journal, states as configured.

        The journal and state topics have as many partitions as the request topic:
        partition ``p`` of each belongs to whoever owns request partition ``p``.
        """
        kafka = self._config.kafka_config
        specs = [self.request_spec(agent_type)]
        if self._config.journal:
            specs.append(
                TopicSpec(
                    name=self.journal(agent_type),
                    partitions=kafka.num_partitions,
                    replication_factor=kafka.replication_factor,
                )
            )
        if self._config.checkpoint_state:
            specs.append(
                TopicSpec(
                    name=self.states(agent_type),
                    partitions=kafka.num_partitions,
                    replication_factor=kafka.replication_factor,
                    config=_COMPACT,
                )
            )
        return specs

    def reply_spec(self, worker_id: str) -> TopicSpec:
        """One worker's reply topic, with how to create it."""
        replication = self._config.kafka_config.replication_factor
        return TopicSpec(name=self.replies(worker_id), partitions=1, replication_factor=replication)
