"""Shared fixtures of the akx-bridge tests: configs on the session stack and a raw responder."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Generator, Sequence
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition

from akx_bridge import KafkaAgentConfig
from akx_dev import KafkaStack
from akx_events import KafkaConfig

#: Short enough that a bug fails the test quickly instead of hanging it.
REQUEST_TIMEOUT = 10.0

#: A record a responder writes: topic, key, value, headers.
Outgoing = tuple[str, bytes | None, bytes | None, Sequence[tuple[str, bytes]]]
Answer = Callable[[list[Message]], list[Outgoing]]


def kafka_config_for(stack: KafkaStack, name: str = "bridge-test") -> KafkaConfig:
    """A KafkaConfig for the session stack with its fast embedded-broker settings."""
    return stack.kafka_config(name, group_id=f"{name}-{uuid.uuid4().hex[:8]}", num_partitions=3)


@pytest.fixture
def agent_config(
    kafka_stack: KafkaStack, topic_name: Callable[[str], str]
) -> Callable[..., KafkaAgentConfig]:
    """Return a factory of bridge configs on this test's own topics (overrides as kwargs)."""
    kafka = kafka_config_for(kafka_stack)
    topics = {"request_topic": topic_name("req"), "response_topic": topic_name("resp")}

    def make(**overrides: Any) -> KafkaAgentConfig:
        values: dict[str, Any] = {
            "kafka_config": kafka,
            "request_timeout": REQUEST_TIMEOUT,
            **topics,
            **overrides,
        }
        return KafkaAgentConfig(**values)

    return make


class Responder:
    """A plain confluent-kafka thread that answers requests as the test tells it to.

    It reads every partition of the request topic from the beginning (no group, so
    no join delay), collects ``batch`` records, and produces what ``answer`` returns.
    """

    def __init__(self, stack: KafkaStack, topic: str, answer: Answer, batch: int) -> None:
        self._stack, self._topic, self._answer, self._batch = stack, topic, answer, batch
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.seen: list[Message] = []
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="responder", daemon=True)

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(15), "responder did not start"

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)

    def _run(self) -> None:
        settings = {"bootstrap.servers": self._stack.bootstrap_servers}
        consumer = Consumer(
            {
                **settings,
                "group.id": f"responder-{uuid.uuid4().hex}",
                **self._stack.consumer_settings(),
            }
        )
        producer = Producer({**settings, **self._stack.producer_settings()})
        try:
            partitions = (
                consumer.list_topics(self._topic, timeout=10).topics[self._topic].partitions
            )
            consumer.assign([TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in partitions])
            self._ready.set()
            pending: list[Message] = []
            while not self._stop.is_set():
                message = consumer.poll(0.05)
                if message is None or message.error() is not None:
                    continue
                self.seen.append(message)
                pending.append(message)
                if len(pending) >= self._batch:
                    for topic, key, value, headers in self._answer(pending):
                        producer.produce(topic, value, key=key, headers=list(headers))
                    producer.flush(10)
                    pending = []
        except BaseException as exc:  # surfaced by the fixture
            self.error = exc
            self._ready.set()
        finally:
            consumer.close()


@pytest.fixture
def responder(kafka_stack: KafkaStack) -> Generator[Callable[..., Responder], None, None]:
    """Return ``start(topic, answer, batch=1)``: a running :class:`Responder`."""
    started: list[Responder] = []

    def start(topic: str, answer: Answer, batch: int = 1) -> Responder:
        made = Responder(kafka_stack, topic, answer, batch)
        made.start()
        started.append(made)
        return made

    yield start
    for made in started:
        made.stop()
        assert made.error is None, made.error


def _read_topic(stack: KafkaStack, topic: str, count: int, timeout: float) -> list[Message]:
    consumer = Consumer(
        {
            "bootstrap.servers": stack.bootstrap_servers,
            "group.id": f"reader-{uuid.uuid4().hex}",
            **stack.consumer_settings(),
        }
    )
    found: list[Message] = []
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        deadline = time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            message = consumer.poll(0.05)
            if message is not None and message.error() is None:
                found.append(message)
    finally:
        consumer.close()
    return found


@pytest.fixture
def topic_reader(kafka_stack: KafkaStack) -> Callable[..., list[Message]]:
    """Return ``read(topic, count, timeout=10)``: records of a topic from the beginning.

    Blocking: call it with ``asyncio.to_thread`` from async tests.
    """

    def read(topic: str, count: int, timeout: float = 10.0) -> list[Message]:
        return _read_topic(kafka_stack, topic, count, timeout)

    return read
