"""The shared OpenTelemetry plumbing: record spans, trace headers, consumer lag."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
from confluent_kafka import Message
from opentelemetry.metrics import CallbackOptions
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from akx_events._telemetry import (
    ConsumerLag,
    Tracing,
    error_type,
    global_tracing_configured,
    header_value,
    log_fields,
    record_attributes,
)

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"


def _message(**headers: bytes) -> Message:
    return Message(
        topic="requests.echo",
        partition=2,
        offset=41,
        key=b"k",
        value=b"secret payload",
        headers=list(headers.items()),
    )


def _stats(partitions: dict[str, dict[str, Any]]) -> str:
    return json.dumps({"type": "consumer", "topics": {"requests.echo": {"partitions": partitions}}})


@pytest.fixture
def recorded() -> tuple[Tracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Tracing("akx_test", provider), exporter


def test_a_record_span_is_a_consumer_child_of_the_records_trace_context(
    recorded: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = recorded
    message = _message(traceparent=f"00-{TRACE_ID}-{PARENT_ID}-01".encode())
    with tracing.consume("process requests.echo", message, {"messaging.message.id": "m1"}):
        headers = dict(tracing.headers())
    (span,) = exporter.get_finished_spans()
    assert span.kind is SpanKind.CONSUMER
    assert span.context is not None and span.parent is not None
    assert f"{span.context.trace_id:032x}" == TRACE_ID
    assert f"{span.parent.span_id:016x}" == PARENT_ID
    assert dict(span.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.destination.name": "requests.echo",
        "messaging.destination.partition.id": "2",
        "messaging.kafka.offset": 41,
        "messaging.message.id": "m1",
    }
    # What is produced inside the span carries the span on.
    assert headers["traceparent"] == f"00-{TRACE_ID}-{span.context.span_id:016x}-01".encode()


def test_without_a_provider_no_headers_are_written() -> None:
    assert not global_tracing_configured()
    tracing = Tracing("akx_test")
    assert not tracing.enabled
    assert tracing.headers() == []


def test_a_record_without_trace_headers_starts_a_new_trace(
    recorded: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = recorded
    with (
        tracing.tracer.start_as_current_span("unrelated work of the consuming task"),
        tracing.consume("process requests.echo", _message(), link_parent=True),
    ):
        pass
    span = exporter.get_finished_spans()[0]
    assert span.name == "process requests.echo"
    assert span.parent is None and not span.links


def test_error_type_is_the_qualified_class_name() -> None:
    assert error_type(ValueError("x")) == "ValueError"
    assert error_type(json.JSONDecodeError("x", "", 0)) == "json.decoder.JSONDecodeError"


def test_record_helpers_never_expose_values() -> None:
    message = _message(ce_id=b"m-7")
    assert header_value(message, "ce_id") == "m-7"
    assert header_value(message, "missing") is None
    assert record_attributes(message)["messaging.kafka.offset"] == 41
    fields = log_fields(message, message_id="m-7")
    assert fields == {"topic": "requests.echo", "partition": 2, "offset": 41, "message_id": "m-7"}
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "msg", None, None)
    record.__dict__.update(fields)  # usable as logging's extra: no reserved names
    assert "secret" not in json.dumps(fields)


def test_consumer_lag_from_librdkafka_statistics() -> None:
    lag = ConsumerLag(metering=True)
    settings = lag.consumer_settings("echo", "akx.requests.echo", {"statistics.interval.ms": 250})
    assert settings["statistics.interval.ms"] == 250
    settings["stats_cb"](
        _stats(
            {
                "-1": {"fetch_state": "none", "consumer_lag": -1},
                "0": {"fetch_state": "active", "consumer_lag": 3},
                # Nothing committed yet: everything in the partition is behind.
                "1": {"fetch_state": "active", "consumer_lag": -1, "hi_offset": 9, "lo_offset": 2},
                "2": {"fetch_state": "none", "consumer_lag": 5},  # not assigned here
            }
        )
    )
    assert lag.snapshot() == {
        ("akx.requests.echo", "requests.echo", 0): 3,
        ("akx.requests.echo", "requests.echo", 1): 7,
    }
    observed = list(lag.observe(CallbackOptions()))
    assert sorted(o.value for o in observed) == [3, 7]
    assert observed[0].attributes == {
        "messaging.system": "kafka",
        "messaging.consumer.group.name": "akx.requests.echo",
        "messaging.destination.name": "requests.echo",
        "messaging.destination.partition.id": "0",
    }
    settings["stats_cb"]("not json")  # ignored, the last good snapshot stays
    assert len(lag.snapshot()) == 2
    lag.forget("echo")
    assert lag.snapshot() == {}


def test_a_consumer_that_stopped_reporting_drops_out(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])  # the clock moves when told
    lag = ConsumerLag(metering=True)
    settings = lag.consumer_settings("echo", "g", {"statistics.interval.ms": 1000})
    settings["stats_cb"](_stats({"0": {"fetch_state": "active", "consumer_lag": 1}}))
    now[0] += 2.9  # two missed reports: still there
    assert lag.snapshot() == {("g", "requests.echo", 0): 1}
    now[0] += 0.2  # three missed 1 s reports
    assert lag.snapshot() == {}


def test_consumer_lag_stays_out_of_the_way() -> None:
    assert ConsumerLag(metering=True).consumer_settings("c", "g", {"stats_cb": print}) == {}
    # No meter provider given nor installed: librdkafka statistics stay off.
    assert ConsumerLag().consumer_settings("c", "g", {}) == {}
    default = ConsumerLag(metering=True).consumer_settings("c", "g", {})
    assert default["statistics.interval.ms"] == 5000
