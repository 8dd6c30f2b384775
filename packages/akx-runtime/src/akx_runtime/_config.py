"""Configuration of :class:`KafkaAgentRuntime`."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import cast

from akx_events import ConfigurationError, KafkaConfig

__all__ = ["KafkaAgentRuntimeConfig", "RetryPolicy"]

# Kafka topic names: letters, digits, '.', '_' and '-', at most 249 characters. We
# append suffixes (".<agent type>", ".<worker id>"), so keep the base names shorter.
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,180}$")


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """When a failed handler is run again, and how long to wait in between.

    A handler that raises an instance of one of ``retry_on`` is run again, up to
    ``max_attempts`` runs in all, waiting ``initial_backoff`` seconds before the
    first retry and twice as long before each next one, at most ``max_backoff``.
    Other exceptions are final at once. The record's partition keeps flowing while
    a handler waits (later records of other agents are not held back).

    Attributes:
        max_attempts: runs in all, including the first (1 turns retries off).
        initial_backoff: seconds before the first retry.
        max_backoff: the longest wait between two runs.
        retry_on: exception types worth another run (e.g. ``ConnectionError``).
    """

    max_attempts: int = 3
    initial_backoff: float = 0.1
    max_backoff: float = 5.0
    retry_on: tuple[type[BaseException], ...] = (ConnectionError,)

    def __post_init__(self) -> None:
        attempts = cast(object, self.max_attempts)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ConfigurationError(
                "runtime.retry.max_attempts", f"{attempts!r} must be an integer >= 1"
            )
        for name in ("initial_backoff", "max_backoff"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigurationError(
                    f"runtime.retry.{name}", f"{value!r} must be a number >= 0"
                )
        if self.max_backoff < self.initial_backoff:
            raise ConfigurationError(
                "runtime.retry.max_backoff",
                f"{self.max_backoff!r} is below initial_backoff {self.initial_backoff!r}",
            )
        retry_on = cast(object, self.retry_on)
        if not isinstance(retry_on, tuple) or not all(
            isinstance(t, type) and issubclass(t, BaseException)
            for t in cast("tuple[object, ...]", retry_on)
        ):
            raise ConfigurationError(
                "runtime.retry.retry_on", f"{self.retry_on!r} must be a tuple of exception types"
            )

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after run number ``attempt`` (1-based) failed."""
        return min(self.max_backoff, self.initial_backoff * 2 ** (attempt - 1))

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        """Whether run number ``attempt`` that raised ``error`` is followed by another."""
        return attempt < self.max_attempts and isinstance(error, self.retry_on)


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
            observers outside the runtime; ``None`` (YAML ``null``) writes no copies,
            which spares a record, an encode and a broker write per publication.
        request_timeout: seconds ``send_message`` waits for a reply.
        worker_id: this worker's id; unique per process by default.
        start_timeout: seconds ``start()`` waits for the broker before failing.
        journal: with each reply, record the handled request (with its reply) in
            ``<request topic>.journal``, so a request the journal shows handled is never
            run again when its partition moves to another worker after a crash. Costs
            one more write per request (the reply does not wait for it).
        checkpoint_state: after each handled message, save the agent's state
            (``save_state``) to the compacted ``<request topic>.state`` topic, keyed
            by agent key, and load it into the agent when it is created on another
            worker (after a crash, a rebalance or a restart). Requires ``journal``.
        retry: how often a handler that raises one of ``retry.retry_on`` is run
            again, and how long to wait in between.
        dead_letter_rpc_errors: also copy RPC requests whose handler failed (after
            retries) to the dead letters; their callers get the error either way.
            Failed published messages always go to the dead letters.
        max_in_flight: most messages of one agent type this worker handles at once
            (from the start of the handler until its reply is acknowledged). Further
            messages wait in order, and while as many wait the worker stops fetching
            that type's requests, so a backlog never starts a handler per record.
    """

    kafka_config: KafkaConfig
    request_topic: str = "agent-requests"
    response_topic: str = "agent-responses"
    registry_topic: str = "agent-registry"
    subscription_topic: str = "agent-subscriptions"
    publish_topic: str | None = "agent-publish"
    request_timeout: float = 30.0
    worker_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    start_timeout: float = 15.0
    journal: bool = True
    checkpoint_state: bool = False
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy())
    dead_letter_rpc_errors: bool = False
    max_in_flight: int = 1000

    def __post_init__(self) -> None:
        if not isinstance(self.kafka_config, KafkaConfig):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigurationError(
                "runtime.kafka_config",
                f"expected a KafkaConfig, got {type(self.kafka_config).__name__}",
            )
        names: dict[str, str] = {
            "request_topic": self.request_topic,
            "response_topic": self.response_topic,
            "registry_topic": self.registry_topic,
            "subscription_topic": self.subscription_topic,
        }
        if self.publish_topic is not None:  # None: no observer copies
            names["publish_topic"] = self.publish_topic
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
        for name in ("journal", "checkpoint_state", "dead_letter_rpc_errors"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigurationError(
                    f"runtime.{name}", f"{getattr(self, name)!r} must be true or false"
                )
        if (
            isinstance(self.max_in_flight, bool)
            or not isinstance(self.max_in_flight, int)  # pyright: ignore[reportUnnecessaryIsInstance]
            or self.max_in_flight < 1
        ):
            raise ConfigurationError(
                "runtime.max_in_flight", f"{self.max_in_flight!r} must be a whole number >= 1"
            )
        if self.checkpoint_state and not self.journal:
            raise ConfigurationError(
                "runtime.checkpoint_state",
                "checkpointed states need the journal (journal: true) to stay consistent",
            )
        if not isinstance(self.retry, RetryPolicy):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigurationError(
                "runtime.retry", f"expected a RetryPolicy, got {type(self.retry).__name__}"
            )
        if not re.match(r"^[A-Za-z0-9_-]{1,64}$", self.worker_id):
            raise ConfigurationError(
                "runtime.worker_id", f"{self.worker_id!r} must be 1-64 of A-Z a-z 0-9 _ -"
            )
