"""Traces and metrics of KafkaMemory (SDK in-memory readers)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from autogen_core.memory import MemoryContent, MemoryMimeType
from confluent_kafka import Producer
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from akx_dev import KafkaStack
from akx_memory import KafkaMemory, KafkaMemoryConfig
from akx_memory._changelog import partition_for


def _points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    if data is None:
        return []
    return [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


async def _eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition never met"
        await asyncio.sleep(0.02)


async def test_writes_are_producer_spans_and_remote_lag_is_recorded(
    memory_config: Callable[..., KafkaMemoryConfig],
) -> None:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    metrics = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[metrics])
    config = memory_config()
    try:
        async with (
            KafkaMemory(config, "s", tracer_provider=tracer_provider) as writer,
            KafkaMemory(config, "s", meter_provider=meter_provider) as follower,
        ):
            memory_id = await writer.add_entry(
                MemoryContent(content="hello", mime_type=MemoryMimeType.TEXT)
            )
            await _eventually(lambda: follower.get(memory_id) is not None)
        (span,) = spans.get_finished_spans()
        assert span.name == f"send {config.memory_topic}"
        assert span.kind is SpanKind.PRODUCER
        attributes = dict(span.attributes or {})
        assert attributes["messaging.message.id"] == memory_id
        assert attributes["akx.memory.action"] == "add"
        (lag,) = _points(metrics, "akx.memory.replication.lag")
        assert lag.count == 1 and 0 <= lag.sum < 5
        assert lag.attributes["messaging.destination.name"] == config.memory_topic
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()


async def test_dead_letters_are_counted(
    memory_config: Callable[..., KafkaMemoryConfig], kafka_stack: KafkaStack
) -> None:
    metrics = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[metrics])
    config = memory_config()
    async with KafkaMemory(config, "s") as writer:  # creates the topic
        producer = Producer({"bootstrap.servers": kafka_stack.bootstrap_servers})
        producer.produce(
            config.memory_topic,
            b"not an avro record",
            key=b"s/garbage",
            partition=partition_for("s", config.partitions),
        )
        await asyncio.to_thread(producer.flush, 10)
        await writer.add_entry(MemoryContent(content="fine", mime_type=MemoryMimeType.TEXT))
    try:
        async with KafkaMemory(config, "s", meter_provider=meter_provider) as memory:
            assert memory.dead_letter_count == 1
        (point,) = _points(metrics, "akx.dead_letters")
        assert point.value == 1
        assert point.attributes["messaging.destination.name"] == config.memory_topic
    finally:
        meter_provider.shutdown()
