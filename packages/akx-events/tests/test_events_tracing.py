"""Trace context rides in Kafka headers next to the CloudEvents attributes."""

from __future__ import annotations

import uuid

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from akx_events import (
    AgentRef,
    EventSerde,
    RequestEvent,
    SchemaRegistryConfig,
    extract_trace_context,
    inject_trace_headers,
)

SPAN = SpanContext(
    trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
    span_id=0x00F067AA0BA902B7,
    is_remote=False,
    trace_flags=TraceFlags(TraceFlags.SAMPLED),
)


def test_inject_gives_w3c_headers_for_the_active_span() -> None:
    context = trace.set_span_in_context(NonRecordingSpan(SPAN))

    headers = inject_trace_headers(context)

    assert headers == [("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]


def test_no_active_span_gives_no_headers() -> None:
    assert inject_trace_headers() == []


def test_trace_context_survives_a_serde_round_trip() -> None:
    serde = EventSerde(SchemaRegistryConfig(url=f"mock://tracing-{uuid.uuid4().hex}"))
    serde.prepare_sync()
    event = RequestEvent(
        message_id="m",
        kind="publish",
        payload=b"",
        type_name="T",
        sender=AgentRef(type="a", key="k"),
    )
    context = trace.set_span_in_context(NonRecordingSpan(SPAN))

    value, headers = serde.encode(event, topic="t", extra_headers=inject_trace_headers(context))
    decoded = serde.decode_record(value, headers)
    extracted = trace.get_current_span(extract_trace_context(decoded.headers)).get_span_context()

    assert extracted.trace_id == SPAN.trace_id
    assert extracted.span_id == SPAN.span_id
    assert extracted.is_remote is True


def test_records_without_trace_headers_extract_to_an_empty_context() -> None:
    span = trace.get_current_span(extract_trace_context([("other", b"x"), ("traceparent", None)]))

    assert span.get_span_context().is_valid is False
    assert trace.get_current_span(extract_trace_context(None)).get_span_context().is_valid is False
