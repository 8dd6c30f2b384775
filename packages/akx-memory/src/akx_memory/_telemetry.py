"""Traces and metrics of ``KafkaMemory``.

A write is a PRODUCER span ``send <memory topic>`` whose context travels in the
record's ``traceparent`` header (inside an agent's handler it is a child of the
runtime's ``process`` span).

Metrics (meter ``akx_memory``; attributes in brackets):

- ``akx.memory.replication.lag`` histogram, seconds [``messaging.destination.name``]:
  time from a remote instance writing a change to this instance applying it;
- ``akx.dead_letters`` counter [``messaging.destination.name``, ``error.type``]:
  unreadable memory records copied to the dead-letter topic.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import SpanKind, TracerProvider

from akx_events._telemetry import Tracing, dead_letter_counter, make_meter

__all__ = ["MemoryTelemetry"]

_SCOPE = "akx_memory"
_DESTINATION = "messaging.destination.name"


class MemoryTelemetry:
    """The memory's tracer and instruments.

    Args:
        topic: the memory topic.
        tracer_provider: where spans go; the global provider when ``None``.
        meter_provider: where metrics go; the global provider when ``None``.
    """

    def __init__(
        self,
        topic: str,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self._topic = topic
        self._topic_only = {_DESTINATION: topic}
        self._tracing = Tracing(_SCOPE, tracer_provider)
        meter = make_meter(_SCOPE, meter_provider)
        self._lag = meter.create_histogram(
            "akx.memory.replication.lag",
            unit="s",
            description="Time from a remote write to this instance applying it.",
        )
        self._dead_letters = dead_letter_counter(meter)

    def trace_headers(self) -> list[tuple[str, bytes]]:
        """Trace headers of the current span (none while tracing is off)."""
        return self._tracing.headers()

    @contextlib.contextmanager
    def write(self, action: str, memory_id: str | None) -> Generator[None, None, None]:
        """A current PRODUCER span for one write, while tracing."""
        if not self._tracing.enabled:
            yield
            return
        with self._tracing.tracer.start_as_current_span(
            f"send {self._topic}",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation": "send",
                _DESTINATION: self._topic,
                "messaging.message.id": memory_id or "",
                "akx.memory.action": action,
            },
        ):
            yield

    def lag_sample(self, seconds: float) -> None:
        """A remote write became visible here ``seconds`` after it was made."""
        self._lag.record(seconds, self._topic_only)

    def dead_lettered(self, error_type: str) -> None:
        """An unreadable record of the memory topic was copied to the dead letters."""
        self._dead_letters.add(1, {_DESTINATION: self._topic, "error.type": error_type})
