"""Shared fixtures of the akx-memory tests: memory configs on the session's stack."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from akx_dev import KafkaStack
from akx_events import KafkaConfig
from akx_memory import KafkaMemory, KafkaMemoryConfig

MemoryConfigFactory = Callable[..., KafkaMemoryConfig]


def kafka_config_for(stack: KafkaStack, name: str = "akx-memory-test") -> KafkaConfig:
    """A KafkaConfig for the session stack, with its fast embedded-broker settings."""
    return stack.kafka_config(name, num_partitions=2)


@pytest.fixture(scope="session")
def memory_kafka_config(kafka_stack: KafkaStack) -> KafkaConfig:
    """The KafkaConfig of every memory test (session-scoped, for module fixtures)."""
    return kafka_config_for(kafka_stack)


@pytest.fixture
def memory_config(kafka_stack: KafkaStack, topic_name: Callable[[str], str]) -> MemoryConfigFactory:
    """Return a factory of memory configs on this test's own topic (overrides as kwargs)."""
    topic = topic_name("mem")
    kafka = kafka_config_for(kafka_stack)

    def make(**overrides: object) -> KafkaMemoryConfig:
        values: dict[str, object] = {
            "kafka_config": kafka,
            "memory_topic": topic,
            "start_timeout": 20.0,
            **overrides,
        }
        return KafkaMemoryConfig(**values)  # type: ignore[arg-type]

    return make


async def _eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        await asyncio.sleep(0.005)


def contents_of(memory: KafkaMemory) -> list[tuple[str, str]]:
    """Entries of ``memory`` as comparable (id, repr) pairs, in order."""
    return [(memory_id, repr(content)) for memory_id, content in memory.entries().items()]


async def _converged(*memories: KafkaMemory, timeout: float = 10.0) -> None:
    first = memories[0]
    await _eventually(lambda: all(contents_of(m) == contents_of(first) for m in memories), timeout)


@pytest.fixture
def eventually() -> Callable[..., Awaitable[None]]:
    """``await eventually(check, timeout=10)``: wait until ``check()`` is true, else fail."""
    return _eventually


@pytest.fixture
def converged() -> Callable[..., Awaitable[None]]:
    """``await converged(a, b, ...)``: wait until the instances show the same entries."""
    return _converged
