"""Traces and metrics of KafkaAgentRuntime, with the OpenTelemetry SDK's in-memory readers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
from autogen_core import AgentId, BaseAgent, MessageContext
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from akx_dev import KafkaStack
from akx_runtime import KafkaAgentRuntime, KafkaAgentRuntimeConfig, RequestTimeoutError

RuntimeConfigFactory = Callable[..., KafkaAgentRuntimeConfig]


class Telemetry:
    """A tracer and a meter provider of one worker, recording in memory."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.metrics = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metrics])

    def finished(self) -> tuple[ReadableSpan, ...]:
        return self.spans.get_finished_spans()

    def points(self, name: str) -> list[Any]:
        data = self.metrics.get_metrics_data()
        found: list[Any] = []
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


class Answering(BaseAgent):
    """Echoes text; 'fail' raises, 'slow' waits for ``release`` (past the caller's timeout)."""

    def __init__(self, release: asyncio.Event | None = None) -> None:
        super().__init__("answers")
        self._release = release

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> Any:
        if message == "fail":
            raise ValueError("asked to fail")
        if message == "slow" and self._release is not None:
            await self._release.wait()
        return f"echo {message}"


@pytest.fixture
def telemetry() -> Iterator[tuple[Telemetry, Telemetry]]:
    caller, worker = Telemetry(), Telemetry()
    yield caller, worker
    caller.shutdown()
    worker.shutdown()


async def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never met"
        await asyncio.sleep(0.05)


def _first_record_headers(stack: KafkaStack, topic: str) -> dict[str, bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": stack.bootstrap_servers,
            "group.id": "akx-telemetry-test",
            **stack.consumer_settings(),
        }
    )
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        for _ in range(100):
            message = consumer.poll(0.1)
            if message is not None and message.error() is None:
                return dict(cast("list[tuple[str, bytes]]", message.headers() or []))
        raise AssertionError(f"no record on {topic}")
    finally:
        consumer.close()


async def test_rpc_is_one_trace_with_producer_and_consumer_spans(
    runtime_config: RuntimeConfigFactory,
    telemetry: tuple[Telemetry, Telemetry],
    kafka_stack: KafkaStack,
) -> None:
    caller_t, worker_t = telemetry
    config = runtime_config()
    async with (
        KafkaAgentRuntime(
            runtime_config(),
            tracer_provider=worker_t.tracer_provider,
            meter_provider=worker_t.meter_provider,
        ) as worker,
        KafkaAgentRuntime(
            config,
            tracer_provider=caller_t.tracer_provider,
            meter_provider=caller_t.meter_provider,
        ) as caller,
    ):
        await worker.register_factory("answering", lambda: Answering())
        await _wait_for(lambda: caller._directory.is_hosted("answering"))  # pyright: ignore[reportPrivateUsage]
        assert await caller.send_message("hi", AgentId("answering", "k1")) == "echo hi"
        await _wait_for(lambda: len(worker_t.finished()) >= 1)

    (create,) = [s for s in caller_t.finished() if s.name.startswith("autogen create")]
    (process,) = [s for s in worker_t.finished() if s.name.startswith("autogen process")]
    assert create.name == "autogen create answering.(k1)-A"
    assert create.kind is SpanKind.PRODUCER
    assert process.kind is SpanKind.CONSUMER
    assert process.context is not None and create.context is not None
    assert process.context.trace_id == create.context.trace_id
    assert process.parent is not None and process.parent.span_id == create.context.span_id
    attributes = dict(process.attributes or {})
    assert attributes["messaging.system"] == "kafka"
    assert attributes["messaging.destination.name"] == f"{config.request_topic}.answering"
    assert attributes["messaging.destination.partition.id"] in ("0", "1")
    assert isinstance(attributes["messaging.kafka.offset"], int)
    assert (
        attributes["messaging.message.id"] == dict(create.attributes or {})["messaging.message.id"]
    )
    assert attributes["akx.message.kind"] == "rpc_request"
    assert attributes["messaging.consumer.group.name"] == f"akx.{config.request_topic}.answering"
    assert [link.context.span_id for link in process.links] == [create.context.span_id]
    # The reply carries the worker's span on, like every record produced in a trace.
    reply_topic = f"{config.response_topic}.{caller.worker_id}"
    headers = await asyncio.to_thread(_first_record_headers, kafka_stack, reply_topic)
    trace_id, span_id = f"{process.context.trace_id:032x}", f"{process.context.span_id:016x}"
    assert headers["traceparent"].startswith(f"00-{trace_id}-{span_id}-".encode())


async def test_metrics_count_outcomes_latency_and_registrations(
    runtime_config: RuntimeConfigFactory, telemetry: tuple[Telemetry, Telemetry]
) -> None:
    caller_t, worker_t = telemetry
    async with (
        KafkaAgentRuntime(
            runtime_config(),
            tracer_provider=worker_t.tracer_provider,
            meter_provider=worker_t.meter_provider,
        ) as worker,
        KafkaAgentRuntime(
            runtime_config(request_timeout=3.0),
            tracer_provider=caller_t.tracer_provider,
            meter_provider=caller_t.meter_provider,
        ) as caller,
    ):
        release = asyncio.Event()
        await worker.register_factory("answering", lambda: Answering(release))
        await _wait_for(lambda: caller._directory.is_hosted("answering"))  # pyright: ignore[reportPrivateUsage]
        # The worker warms the type's group up itself (its 10 s timeout covers the join),
        # so the caller's 3 s calls are not timed against it and its counts stay exact.
        assert await worker.send_message("w", AgentId("answering", "w")) == "echo w"
        target = AgentId("answering", "k")
        assert await caller.send_message("a", target) == "echo a"
        with pytest.raises(ValueError, match="asked to fail"):
            await caller.send_message("fail", target)
        with pytest.raises(RequestTimeoutError):
            await caller.send_message("slow", AgentId("answering", "other"))
        release.set()

        outcomes = {
            p.attributes["akx.outcome"]: p.value for p in caller_t.points("akx.rpc.outcomes")
        }
        assert outcomes == {"ok": 1, "error": 1, "timeout": 1}
        assert all(
            p.attributes["akx.agent.type"] == "answering"
            for p in caller_t.points("akx.rpc.outcomes")
        )
        (in_flight,) = caller_t.points("akx.rpc.in_flight")
        assert isinstance(in_flight, NumberDataPoint) and in_flight.value == 0
        durations = {
            p.attributes["akx.outcome"]: p.count for p in caller_t.points("akx.rpc.duration")
        }
        assert durations == {"ok": 1, "error": 1, "timeout": 1}

        await _wait_for(
            lambda: sum(p.count for p in worker_t.points("akx.message.processing.duration")) >= 2
        )
        processed = {
            p.attributes["akx.outcome"]: p.count
            for p in worker_t.points("akx.message.processing.duration")
        }
        assert processed["ok"] >= 1 and processed["error"] == 1
        assert all(
            p.attributes["akx.agent.type"] == "answering"
            for p in worker_t.points("akx.message.processing.duration")
        )
        registrations = worker_t.points("akx.registrations")
        assert [(p.attributes["akx.registration.action"], p.value) for p in registrations] == [
            ("register", 1)
        ]
    failed = [s for s in worker_t.finished() if s.status.status_code is StatusCode.ERROR]
    assert [dict(s.attributes or {})["messaging.destination.name"] for s in failed] == [
        f"{caller.config.request_topic}.answering"
    ]
    assert any(event.name == "exception" for event in failed[0].events)


async def test_consumer_lag_is_reported_per_partition(
    runtime_config: RuntimeConfigFactory, kafka_stack: KafkaStack
) -> None:
    worker_t = Telemetry()
    kafka = kafka_stack.kafka_config(
        "akx-lag",
        num_partitions=2,
        consumer_extra={**kafka_stack.consumer_settings(), "statistics.interval.ms": 100},
    )
    config = runtime_config(kafka_config=kafka)
    try:
        async with KafkaAgentRuntime(config, meter_provider=worker_t.meter_provider) as worker:
            await worker.register_factory("answering", lambda: Answering())
            assert await worker.send_message("x", AgentId("answering", "k")) == "echo x"

            def partitions() -> set[str]:
                return {
                    p.attributes["messaging.destination.partition.id"]
                    for p in worker_t.points("akx.consumer.lag")
                }

            await _wait_for(lambda: partitions() == {"0", "1"})
            for point in worker_t.points("akx.consumer.lag"):
                assert point.attributes["messaging.destination.name"] == (
                    f"{config.request_topic}.answering"
                )
                assert point.attributes["messaging.consumer.group.name"] == (
                    f"akx.{config.request_topic}.answering"
                )
                assert point.value >= 0
    finally:
        worker_t.shutdown()


def test_without_providers_nothing_is_traced(runtime_config: RuntimeConfigFactory) -> None:
    runtime = KafkaAgentRuntime(runtime_config())
    telemetry = runtime._telemetry  # pyright: ignore[reportPrivateUsage]
    assert not telemetry.tracing
    assert telemetry.trace_headers() == []
    assert telemetry.consumer_settings("t", {"group.id": "g"}) == {}


async def test_autogen_runtime_tracing_switch_turns_spans_off(
    runtime_config: RuntimeConfigFactory,
    telemetry: tuple[Telemetry, Telemetry],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTOGEN_DISABLE_RUNTIME_TRACING", "true")
    caller_t, worker_t = telemetry
    worker = KafkaAgentRuntime(runtime_config(), tracer_provider=worker_t.tracer_provider)
    await Answering.register(worker, "answering", lambda: Answering())
    caller = KafkaAgentRuntime(runtime_config(), tracer_provider=caller_t.tracer_provider)
    async with worker, caller:
        assert await caller.send_message("hi", AgentId("answering", "k")) == "echo hi"
        assert caller._telemetry.trace_headers() == []  # pyright: ignore[reportPrivateUsage]
    assert caller_t.finished() == () and worker_t.finished() == ()


async def test_dead_letters_are_counted_traced_and_logged_with_fields(
    runtime_config: RuntimeConfigFactory,
    kafka_stack: KafkaStack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, "autogen_kafka_extension.runtimes.kafka_agent_runtime")
    worker_t = Telemetry()
    config = runtime_config()
    request_topic = f"{config.request_topic}.answering"
    try:
        async with KafkaAgentRuntime(
            config,
            tracer_provider=worker_t.tracer_provider,
            meter_provider=worker_t.meter_provider,
        ) as worker:
            await worker.register_factory("answering", lambda: Answering())
            producer = Producer(
                {
                    "bootstrap.servers": kafka_stack.bootstrap_servers,
                    **kafka_stack.producer_settings(),
                }
            )
            producer.produce(request_topic, b"junk that is no event", key=b"k")
            assert await asyncio.to_thread(producer.flush, 10) == 0
            await _wait_for(lambda: worker_t.points("akx.dead_letters") != [])
            await _wait_for(lambda: worker_t.points("akx.message.processing.duration") != [])
        (letters,) = worker_t.points("akx.dead_letters")
        assert letters.value == 1
        assert letters.attributes == {
            "messaging.destination.name": request_topic,
            "error.type": "akx_events.exceptions.EventDecodeError",
        }
        (handled,) = worker_t.points("akx.message.processing.duration")
        assert handled.attributes["akx.outcome"] == "dead_letter"
        (span,) = [s for s in worker_t.finished() if s.name == "autogen process answering.(k)-A"]
        assert span.status.status_code is StatusCode.ERROR
        (logged,) = [r for r in caplog.records if "cannot be handled" in r.getMessage()]
        fields = logged.__dict__
        assert fields["topic"] == request_topic and fields["offset"] == 0
        assert fields["error_type"] == "akx_events.exceptions.EventDecodeError"
    finally:
        worker_t.shutdown()
