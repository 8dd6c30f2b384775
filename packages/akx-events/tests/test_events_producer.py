"""AsyncProducer: acknowledgements as futures, typed errors, a fenced producer replaced."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from confluent_kafka import KafkaError

from akx_dev import KafkaStack
from akx_events import BrokerUnavailableError, ConfigurationError, KafkaTransportError
from akx_events._admin import TopicSpec, ensure_topics
from akx_events._producer import AsyncProducer, transport_error


@pytest.mark.parametrize(
    ("code", "kind", "retriable"),
    [
        (KafkaError._MSG_TIMED_OUT, KafkaTransportError, True),  # pyright: ignore[reportPrivateUsage]
        (KafkaError._ALL_BROKERS_DOWN, BrokerUnavailableError, True),  # pyright: ignore[reportPrivateUsage]
        (KafkaError.MSG_SIZE_TOO_LARGE, KafkaTransportError, False),
    ],
)
def test_librdkafka_errors_become_typed_errors(
    code: int, kind: type[KafkaTransportError], retriable: bool
) -> None:
    error = transport_error(KafkaError(code), "delivery to 't' failed")
    assert type(error) is kind
    assert error.retriable is retriable
    assert "delivery to 't' failed" in str(error)


async def test_a_fenced_producer_is_replaced_and_later_records_go_through(
    kafka_stack: KafkaStack, topic_name: Callable[[str], str]
) -> None:
    kafka = kafka_stack.kafka_config("producer-test")
    topic = topic_name("fenced")
    await ensure_topics(kafka.client_config(), [TopicSpec(name=topic, partitions=1)])
    producer = AsyncProducer(kafka.producer_config(), name="fenced-test")
    await producer.start()
    try:
        first = await producer.produce(topic, b"one")
        # What a delivery report of a fenced idempotent producer looks like.
        pending = asyncio.get_running_loop().create_future()
        producer._report(pending, topic, KafkaError(KafkaError.PRODUCER_FENCED), first)  # pyright: ignore[reportPrivateUsage]
        second = await producer.produce(topic, b"two")
        assert producer.replacements == 1
        offset = first.offset()
        assert offset is not None
        assert second.offset() == offset + 1
        with pytest.raises(KafkaTransportError, match="fence"):
            await pending
    finally:
        await producer.stop()


async def test_settings_librdkafka_refuses_are_a_configuration_error_at_start() -> None:
    producer = AsyncProducer(
        {"bootstrap.servers": "127.0.0.1:1", "sasl.jaas.config": "org.Example required;"},
        name="refused",
    )
    with pytest.raises(ConfigurationError, match=r"sasl\.jaas\.config|JAAS"):
        await producer.start()
    assert not producer.started
