"""Topic administration from asyncio code."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from ._producer import settings_error
from .exceptions import BrokerUnavailableError, KafkaTransportError

__all__ = ["TopicSpec", "ensure_topics", "ensure_topics_sync"]


@dataclass(frozen=True, kw_only=True)
class TopicSpec:
    """A topic akx needs, with how to create it if it is missing."""

    name: str
    partitions: int
    replication_factor: int = 1
    config: Mapping[str, str] = field(default_factory=dict[str, str])


def ensure_topics_sync(
    client_config: dict[str, Any], specs: Sequence[TopicSpec], timeout: float = 10.0
) -> None:
    """Blocking :func:`ensure_topics`, for code that runs no event loop (command lines)."""
    try:
        admin = AdminClient(client_config)
    except KafkaException as exc:
        raise settings_error(exc, "client") from exc
    servers = client_config.get("bootstrap.servers", "?")
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise BrokerUnavailableError(
            f"no broker of {servers!r} answered within {timeout:g} s: {exc.args[0]}"
        ) from exc
    missing = [spec for spec in specs if spec.name not in existing]
    if not missing:
        return
    new_topics = [
        NewTopic(s.name, s.partitions, s.replication_factor, config=dict(s.config)) for s in missing
    ]
    futures = cast(
        "dict[str, concurrent.futures.Future[None]]",
        admin.create_topics(  # pyright: ignore[reportUnknownMemberType]
            new_topics, operation_timeout=timeout, request_timeout=timeout
        ),
    )
    for name, future in futures.items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            # Another worker may have created it between our look and our create.
            if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise KafkaTransportError(
                    f"cannot create topic {name!r}: {error.str()}", retriable=error.retriable()
                ) from exc


async def ensure_topics(
    client_config: dict[str, Any], specs: Sequence[TopicSpec], *, timeout: float = 10.0
) -> None:
    """Create the topics that do not exist yet, off the event loop.

    Raises:
        BrokerUnavailableError: no broker answered within ``timeout`` (the message
            names the bootstrap servers).
        KafkaTransportError: the broker refused to create a topic.
    """
    await asyncio.to_thread(ensure_topics_sync, client_config, specs, timeout)
