"""pytest plugin (entry point ``akx_dev``): a Kafka stack for every package's tests.

Fixtures:
    kafka_stack: session-scoped :class:`~akx_dev.KafkaStack`, chosen in this order:
        ``AKX_BOOTSTRAP_SERVERS`` / ``AKX_SCHEMA_REGISTRY_URL``, containers when a
        Docker daemon answers, else the embedded broker and development registry.
    topic_name: function-scoped factory of topic names unique to the test, so tests
        never see each other's data.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Generator

import pytest

from ._stack import KafkaStack, open_stack

__all__ = ["kafka_stack", "topic_name"]


@pytest.fixture(scope="session")
def kafka_stack() -> Generator[KafkaStack, None, None]:
    """The broker and Schema Registry shared by the whole test session."""
    with open_stack() as stack:
        yield stack


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Return a factory: ``topic_name("requests")`` gives a topic name unique to this test."""
    test = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")[:40]
    run = uuid.uuid4().hex[:8]

    def make(prefix: str = "t") -> str:
        return f"{prefix}-{test}-{run}"

    return make
