"""Traces and metrics of the bridge: the agent's calls and the service's handling.

A bridge call is a PRODUCER span ``send <request topic>`` that lasts until the reply
arrives; its context travels in the request's ``traceparent`` header, and the
service handles the request in a CONSUMER span ``process <request topic>``, its
child. Inside a ``KafkaAgentRuntime`` handler the call is itself a child of the
runtime's ``process`` span, so the whole chain is one trace.

Metrics (meter ``akx_bridge``; attributes in brackets):

- ``akx.rpc.in_flight`` up-down counter [``messaging.destination.name``];
- ``akx.rpc.outcomes`` counter and ``akx.rpc.duration`` histogram, seconds
  [``messaging.destination.name``, ``akx.outcome`` = ok / error / timeout];
- ``akx.message.processing.duration`` histogram, seconds [``messaging.destination.name``,
  ``akx.outcome`` = ok / error / dead_letter]: the service's handling of one request;
- ``akx.dead_letters`` counter [``messaging.destination.name``, ``error.type``].
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Generator
from typing import Any

from confluent_kafka import Message
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider

from akx_events._telemetry import RpcInstruments, Tracing, dead_letter_counter, make_meter

from .exceptions import BridgeTimeoutError

__all__ = ["BridgeTelemetry", "ProcessingOutcome", "note_delivery"]

_SCOPE = "akx_bridge"
_DESTINATION = "messaging.destination.name"
_OUTCOME = "akx.outcome"


class ProcessingOutcome:
    """How the handling of one request ended, set by the service as it learns it."""

    __slots__ = ("span", "value")

    def __init__(self, span: Span | None) -> None:
        self.span = span
        self.value = "ok"

    def failed(self, outcome: str, error_type: str, error: BaseException | None = None) -> None:
        """The request ended as ``outcome`` (``error`` or ``dead_letter``)."""
        self.value = outcome
        if self.span is not None:
            if error is not None:
                self.span.record_exception(error)
            self.span.set_status(Status(StatusCode.ERROR, error_type))


class BridgeTelemetry:
    """The bridge's tracer and instruments.

    Args:
        tracer_provider: where spans go; the global provider when ``None``.
        meter_provider: where metrics go; the global provider when ``None``.
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self._tracing = Tracing(_SCOPE, tracer_provider)
        meter = make_meter(_SCOPE, meter_provider)
        rpcs = RpcInstruments.create(meter, "bridge calls")
        self._in_flight, self._outcomes, self._duration = (
            rpcs.in_flight,
            rpcs.outcomes,
            rpcs.duration,
        )
        self._processing = meter.create_histogram(
            "akx.message.processing.duration",
            unit="s",
            description="Time a service took to answer one request.",
        )
        self._dead_letters = dead_letter_counter(meter)

    def trace_headers(self) -> list[tuple[str, bytes]]:
        """Trace headers of the current span (none while tracing is off)."""
        return self._tracing.headers()

    @contextlib.contextmanager
    def call(self, topic: str, correlation_id: str) -> Generator[Span | None, None, None]:
        """Count and time one bridge call; a current PRODUCER span while tracing."""
        attributes = {_DESTINATION: topic}
        self._in_flight.add(1, attributes)
        started = time.perf_counter()
        outcome = "error"
        try:
            if self._tracing.enabled:
                with self._tracing.tracer.start_as_current_span(
                    f"send {topic}",
                    kind=SpanKind.PRODUCER,
                    attributes={
                        "messaging.system": "kafka",
                        "messaging.operation": "send",
                        _DESTINATION: topic,
                        "messaging.message.id": correlation_id,
                    },
                ) as span:
                    yield span
            else:
                yield None
            outcome = "ok"
        except BridgeTimeoutError:
            outcome = "timeout"
            raise
        finally:
            self._in_flight.add(-1, attributes)
            done = {**attributes, _OUTCOME: outcome}
            self._outcomes.add(1, done)
            self._duration.record(time.perf_counter() - started, done)

    @contextlib.contextmanager
    def process(
        self, message: Message, group: str, correlation_id: str | None
    ) -> Generator[ProcessingOutcome, None, None]:
        """Time the handling of one request; a CONSUMER span (child of the caller's)."""
        topic = message.topic() or ""
        started = time.perf_counter()
        outcome = ProcessingOutcome(None)
        try:
            if self._tracing.enabled:
                attributes: dict[str, Any] = {
                    "messaging.operation": "process",
                    "messaging.consumer.group.name": group,
                }
                if correlation_id is not None:
                    attributes["messaging.message.id"] = correlation_id
                with self._tracing.consume(f"process {topic}", message, attributes) as span:
                    outcome.span = span
                    yield outcome
            else:
                yield outcome
        except BaseException:
            outcome.value = "error"
            raise
        finally:
            self._processing.record(
                time.perf_counter() - started, {_DESTINATION: topic, _OUTCOME: outcome.value}
            )

    def dead_lettered(self, topic: str, error_type: str) -> None:
        """A record of ``topic`` was copied to a dead-letter topic."""
        self._dead_letters.add(1, {_DESTINATION: topic, "error.type": error_type})


def note_delivery(span: Span | None, delivery: asyncio.Future[Message]) -> None:
    """Record where the broker stored a request, while its span is still open."""
    if span is None or not span.is_recording() or delivery.cancelled():
        return
    if delivery.exception() is not None:
        return
    message = delivery.result()
    partition, offset = message.partition(), message.offset()
    if partition is not None:
        span.set_attribute("messaging.destination.partition.id", str(partition))
    if offset is not None:
        span.set_attribute("messaging.kafka.offset", offset)
