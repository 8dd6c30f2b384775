"""OpenTelemetry for the sample's three processes: console, a JSON-lines file, or OTLP.

``akx-sentiment --otel-console`` sets ``AKX_SENTIMENT_OTEL=console`` for itself and the
processes it starts, so each prints its spans (and, when it stops, its metrics) to
stderr; their trace ids show that one sentence is one trace across the three
processes. ``AKX_SENTIMENT_OTEL=jsonl:<path>`` appends every span as a JSON line to
``<path>`` instead (``docs/render_trace.py`` draws them). When
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set and ``opentelemetry-exporter-otlp`` is
installed, spans and metrics also go to that collector (Jaeger, Tempo, ...).

The libraries only need ``opentelemetry-api``: they use whatever provider the
application installs, as here.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

ENV = "AKX_SENTIMENT_OTEL"
_OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
#: Metrics go out at stop; a periodic export in between would drown the sample's output.
_METRIC_INTERVAL_MS = 600_000


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """A span as a JSON-ready dictionary (ids in hex, times in ns)."""
    context, parent = span.context, span.parent
    return {
        "name": span.name,
        "service": str(span.resource.attributes.get("service.name", "")),
        "trace_id": f"{context.trace_id:032x}" if context else "",
        "span_id": f"{context.span_id:016x}" if context else "",
        "parent_id": f"{parent.span_id:016x}" if parent else None,
        "kind": span.kind.name,
        "start": span.start_time,
        "end": span.end_time,
        "status": span.status.status_code.name,
        "attributes": {k: _jsonable(v) for k, v in (span.attributes or {}).items()},
    }


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


class JsonLinesSpanExporter(SpanExporter):
    """Appends each finished span to a file as one JSON line (safe across processes)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(span_record(span)) + "\n" for span in spans)
        with self._lock, open(self._path, "a") as file:
            file.write(lines)  # one write per batch: lines of two processes do not mix
        return SpanExportResult.SUCCESS


def _otlp_exporters() -> tuple[SpanExporter, MetricExporter] | None:
    """OTLP exporters when an endpoint is configured and the exporter package is installed."""
    if not os.environ.get(_OTLP_ENDPOINT):
        return None
    for flavour in ("grpc", "http"):
        try:
            spans = importlib.import_module(
                f"opentelemetry.exporter.otlp.proto.{flavour}.trace_exporter"
            )
            metric = importlib.import_module(
                f"opentelemetry.exporter.otlp.proto.{flavour}.metric_exporter"
            )
        except ImportError:
            continue
        return spans.OTLPSpanExporter(), metric.OTLPMetricExporter()
    print(
        f"{_OTLP_ENDPOINT} is set but opentelemetry-exporter-otlp is not installed",
        file=sys.stderr,
    )
    return None


def configure(service: str) -> Callable[[], None] | None:
    """Install global tracer and meter providers as ``AKX_SENTIMENT_OTEL`` and OTLP say.

    Returns:
        A function that flushes and shuts the providers down, or ``None`` when
        telemetry is off (nothing installed, the libraries skip all the work).
    """
    mode = os.environ.get(ENV, "")
    otlp = _otlp_exporters()
    if not mode and otlp is None:
        return None
    resource = Resource.create({"service.name": service})
    tracer_provider = TracerProvider(resource=resource)
    readers: list[MetricReader] = []
    if mode == "console":
        tracer_provider.add_span_processor(
            SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr, service_name=service))
        )
        readers.append(
            PeriodicExportingMetricReader(
                ConsoleMetricExporter(out=sys.stderr), export_interval_millis=_METRIC_INTERVAL_MS
            )
        )
    elif mode.startswith("jsonl:"):
        tracer_provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(mode[6:])))
    if otlp is not None:
        span_exporter, metric_exporter = otlp
        tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
        readers.append(PeriodicExportingMetricReader(metric_exporter))
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)

    def shutdown() -> None:
        tracer_provider.shutdown()
        meter_provider.shutdown()

    return shutdown
