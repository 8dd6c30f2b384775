"""Traces and metrics of the bridge agent and the request processor (SDK in-memory readers)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from autogen_core import AgentId, SingleThreadedAgentRuntime
from confluent_kafka import Producer
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from akx_bridge import (
    CORRELATION_ID_HEADER,
    KafkaAgentConfig,
    KafkaMessageType,
    KafkaStreamingAgent,
    RemoteHandlerError,
    RequestProcessor,
)
from akx_dev import KafkaStack

BRIDGE = AgentId("bridge", "default")


@dataclass
class Question(KafkaMessageType):
    avro_namespace = "akx.tests.bridge_telemetry"
    text: str


@dataclass
class Answer(KafkaMessageType):
    avro_namespace = "akx.tests.bridge_telemetry"
    text: str


async def answer(request: Question) -> Answer:
    if request.text == "fail":
        raise ValueError("cannot answer 'fail'")
    return Answer(text=request.text.upper())


class Recorded:
    """A tracer and a meter provider recording in memory."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.metrics = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metrics])

    def finished(self, prefix: str) -> list[ReadableSpan]:
        return [s for s in self.spans.get_finished_spans() if s.name.startswith(prefix)]

    def points(self, name: str) -> list[Any]:
        data = self.metrics.get_metrics_data()
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


@pytest.fixture
def recorded() -> Iterator[tuple[Recorded, Recorded]]:
    agent_side, service_side = Recorded(), Recorded()
    yield agent_side, service_side
    for side in (agent_side, service_side):
        side.tracer_provider.shutdown()
        side.meter_provider.shutdown()


async def test_bridge_call_and_service_handling_form_one_trace(
    agent_config: Callable[..., KafkaAgentConfig], recorded: tuple[Recorded, Recorded]
) -> None:
    agent_side, service_side = recorded
    config = agent_config()
    runtime = SingleThreadedAgentRuntime()
    agent = KafkaStreamingAgent(
        config,
        "answers",
        Question,
        Answer,
        tracer_provider=agent_side.tracer_provider,
        meter_provider=agent_side.meter_provider,
    )
    await runtime.register_agent_instance(agent, BRIDGE)
    runtime.start()
    processor = RequestProcessor(
        config,
        answer,
        tracer_provider=service_side.tracer_provider,
        meter_provider=service_side.meter_provider,
    )
    async with processor:
        try:
            assert await runtime.send_message(Question(text="hi"), BRIDGE) == Answer(text="HI")
            with pytest.raises(RemoteHandlerError):
                await runtime.send_message(Question(text="fail"), BRIDGE)
        finally:
            await runtime.stop()
            await runtime.close()

    sends = agent_side.finished("send ")
    processes = service_side.finished("process ")
    assert [s.name for s in sends] == [f"send {config.request_topic}"] * 2
    assert [s.name for s in processes] == [f"process {config.request_topic}"] * 2
    for send, process in zip(sends, processes, strict=True):
        assert send.kind is SpanKind.PRODUCER and process.kind is SpanKind.CONSUMER
        assert send.context is not None and process.parent is not None
        assert process.context is not None
        assert process.context.trace_id == send.context.trace_id
        assert process.parent.span_id == send.context.span_id
        send_attributes, process_attributes = (
            dict(send.attributes or {}),
            dict(process.attributes or {}),
        )
        assert send_attributes["messaging.system"] == "kafka"
        assert send_attributes["messaging.message.id"] == process_attributes["messaging.message.id"]
        assert (
            send_attributes["messaging.destination.partition.id"]
            == (process_attributes["messaging.destination.partition.id"])
        )
        assert (
            send_attributes["messaging.kafka.offset"]
            == (process_attributes["messaging.kafka.offset"])
        )
    assert sends[1].status.status_code is StatusCode.ERROR
    assert processes[1].status.status_code is StatusCode.ERROR

    outcomes = {p.attributes["akx.outcome"]: p.value for p in agent_side.points("akx.rpc.outcomes")}
    assert outcomes == {"ok": 1, "error": 1}
    (in_flight,) = agent_side.points("akx.rpc.in_flight")
    assert in_flight.value == 0
    handled = {
        p.attributes["akx.outcome"]: p.count
        for p in service_side.points("akx.message.processing.duration")
    }
    assert handled == {"ok": 1, "error": 1}


async def test_dead_lettered_requests_are_counted_and_logged_with_fields(
    agent_config: Callable[..., KafkaAgentConfig],
    kafka_stack: KafkaStack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "autogen_kafka_extension.agent.kafka_streaming_agent")
    service_side = Recorded()
    config = agent_config()
    try:
        async with RequestProcessor(
            config, answer, meter_provider=service_side.meter_provider
        ) as processor:
            producer = Producer({"bootstrap.servers": kafka_stack.bootstrap_servers})
            producer.produce(
                config.request_topic,
                b"not avro",
                key=b"x.1",
                headers=[(CORRELATION_ID_HEADER, b"x.1")],
            )
            producer.flush(10)
            for _ in range(200):
                if processor.stats.dead_lettered:
                    break
                await asyncio.sleep(0.05)
        (point,) = service_side.points("akx.dead_letters")
        assert point.value == 1
        assert point.attributes["messaging.destination.name"] == config.request_topic
        (handled,) = service_side.points("akx.message.processing.duration")
        assert handled.attributes["akx.outcome"] == "dead_letter"
        (logged,) = [r for r in caplog.records if r.getMessage().startswith("dead-lettering")]
        assert logged.name == "autogen_kafka_extension.agent.kafka_streaming_agent.processor"
        fields = logged.__dict__
        assert fields["topic"] == config.request_topic
        assert fields["partition"] in range(3) and fields["offset"] == 0
        assert fields["error_type"].endswith("EventDecodeError")
    finally:
        service_side.tracer_provider.shutdown()
        service_side.meter_provider.shutdown()
