"""OpenTelemetry plumbing shared by the akx components: tracers, record spans, lag.

Only ``opentelemetry-api`` is needed. Each component takes an optional tracer and
meter provider and otherwise uses the global ones. Spans cost nothing while nobody
records them: :class:`Tracing` checks, cheaply, whether a provider is configured
before building any span or header. Metric instruments are made from the API's
global meter when no provider is given; those forward to the real provider once
the application sets one and cost a fraction of a microsecond until then.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from confluent_kafka import Message
from opentelemetry import metrics, trace
from opentelemetry.metrics import (
    CallbackOptions,
    Counter,
    Histogram,
    Meter,
    MeterProvider,
    Observation,
    UpDownCounter,
)
from opentelemetry.trace import (
    Link,
    ProxyTracerProvider,
    Span,
    SpanKind,
    Tracer,
    TracerProvider,
)
from opentelemetry.util.types import AttributeValue

from ._tracing import extract_trace_context, inject_trace_headers

__all__ = [
    "ConsumerLag",
    "RpcInstruments",
    "Tracing",
    "dead_letter_counter",
    "error_type",
    "global_metrics_configured",
    "global_tracing_configured",
    "header_value",
    "log_fields",
    "make_meter",
    "record_attributes",
]

logger = logging.getLogger(__name__)

#: How often to look again for a global provider while none is set, in seconds.
_RECHECK_SECONDS = 1.0


class _GlobalProviderCheck:
    """Whether a global provider is installed, asked of OpenTelemetry at most once a second.

    Asking costs microseconds (OpenTelemetry reads the environment each time); a
    provider, once installed, cannot be removed, so a positive answer is kept for good.
    """

    def __init__(self, installed: Callable[[], bool]) -> None:
        self._installed = installed
        self._known = False
        self._next_check = 0.0

    def __call__(self) -> bool:
        if self._known:
            return True
        now = time.monotonic()
        if now < self._next_check:
            return False
        self._known = self._installed()
        self._next_check = now + _RECHECK_SECONDS
        return self._known


global_tracing_configured = _GlobalProviderCheck(
    lambda: not isinstance(trace.get_tracer_provider(), ProxyTracerProvider)
)
"""Whether the application installed a global tracer provider (cheap to ask)."""

# The API's stand-in before set_meter_provider() is a private proxy class.
global_metrics_configured = _GlobalProviderCheck(
    lambda: type(metrics.get_meter_provider()).__name__ != "_ProxyMeterProvider"
)
"""Whether the application installed a global meter provider (cheap to ask)."""


def header_value(message: Message, name: str) -> str | None:
    """The first header ``name`` of a record as text (``None`` when absent)."""
    for key, value in message.headers() or ():
        if key == name and value is not None:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return None


def make_meter(scope: str, meter_provider: MeterProvider | None, version: str = "") -> Meter:
    """A meter of the given provider, or of the global one (forwarding once it is set)."""
    if meter_provider is not None:
        return meter_provider.get_meter(scope, version or None)
    return metrics.get_meter(scope, version)


@dataclass(frozen=True)
class RpcInstruments:
    """The instruments of request/reply calls, named alike by the runtime and the bridge."""

    in_flight: UpDownCounter
    outcomes: Counter
    duration: Histogram

    @classmethod
    def create(cls, meter: Meter, what: str) -> RpcInstruments:
        """The three instruments; ``what`` names the calls in their descriptions."""
        return cls(
            in_flight=meter.create_up_down_counter(
                "akx.rpc.in_flight", unit="{request}", description=f"{what} awaiting a reply."
            ),
            outcomes=meter.create_counter(
                "akx.rpc.outcomes", unit="{request}", description=f"Finished {what} by outcome."
            ),
            duration=meter.create_histogram(
                "akx.rpc.duration", unit="s", description=f"Time from sending {what} to its end."
            ),
        )


def dead_letter_counter(meter: Meter) -> Counter:
    """The ``akx.dead_letters`` counter every package counts its dead letters with."""
    return meter.create_counter(
        "akx.dead_letters", unit="{record}", description="Records copied to dead letters."
    )


def record_attributes(message: Message) -> dict[str, AttributeValue]:
    """Messaging semantic-convention attributes of a consumed (or delivered) record."""
    attributes: dict[str, AttributeValue] = {"messaging.system": "kafka"}
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is not None:
        attributes["messaging.destination.name"] = topic
    if partition is not None and partition >= 0:
        attributes["messaging.destination.partition.id"] = str(partition)
    if offset is not None and offset >= 0:
        attributes["messaging.kafka.offset"] = offset
    return attributes


def error_type(error: BaseException) -> str:
    """The ``error.type`` attribute of an exception: its fully qualified class name."""
    cls = type(error)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def log_fields(message: Message, **more: object) -> dict[str, object]:
    """Structured ``extra`` fields of a log record about ``message``.

    Only where the record is (topic, partition, offset) and the given ids: never
    values or headers, which may carry user data.
    """
    fields: dict[str, object] = {
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
    }
    fields.update(more)
    return fields


class Tracing:
    """A component's tracer: the given provider, else the global one.

    Args:
        scope: the instrumentation scope (the component's import name).
        tracer_provider: where spans go; the global provider when ``None``.
        version: the component's version, recorded with the scope.
        disabled: record no spans whatever the providers.
    """

    def __init__(
        self,
        scope: str,
        tracer_provider: TracerProvider | None = None,
        version: str = "",
        *,
        disabled: bool = False,
    ) -> None:
        self._scope = scope
        self._version = version or None
        self._provider = tracer_provider
        self._tracer: Tracer | None = None
        self._disabled = disabled

    @property
    def enabled(self) -> bool:
        """Whether spans are recorded (a provider was given or installed globally)."""
        if self._disabled:
            return False
        return self._provider is not None or global_tracing_configured()

    @property
    def tracer(self) -> Tracer:
        """The tracer (created on first use, so a later global provider is picked up)."""
        tracer = self._tracer
        if tracer is None:
            provider = self._provider or trace.get_tracer_provider()
            tracer = self._tracer = provider.get_tracer(self._scope, self._version)
        return tracer

    def headers(self) -> list[tuple[str, bytes]]:
        """``traceparent``/``tracestate`` headers of the current span; none when off."""
        return inject_trace_headers() if self.enabled else []

    @contextlib.contextmanager
    def consume(
        self,
        name: str,
        message: Message,
        attributes: Mapping[str, AttributeValue] | None = None,
        *,
        link_parent: bool = False,
    ) -> Generator[Span, None, None]:
        """A current CONSUMER span for handling ``message``, child of the span that sent it.

        The parent comes from the record's trace headers, so a call chain across
        processes forms one trace. With ``link_parent`` the sending span is also a
        link, as autogen's runtimes link their ``process`` spans to ``create``.
        """
        # Never the task's current context: a record without trace headers starts a trace.
        parent = extract_trace_context(_list_headers(message))
        links: list[Link] = []
        if link_parent:
            sender = trace.get_current_span(parent).get_span_context()
            if sender.is_valid:
                links.append(Link(sender))
        span_attributes = record_attributes(message)
        if attributes:
            span_attributes.update(attributes)
        with self.tracer.start_as_current_span(
            name, context=parent, kind=SpanKind.CONSUMER, attributes=span_attributes, links=links
        ) as span:
            yield span


class ConsumerLag:
    """Consumer lag per partition, from librdkafka's statistics.

    librdkafka computes each assigned partition's lag (high watermark minus committed
    offset) on its own thread and hands it over as JSON every
    ``statistics.interval.ms``: no extra broker call and no call across threads.
    :meth:`consumer_settings` adds the callback to a consumer's configuration;
    :meth:`observe` is an observable gauge callback.

    Args:
        interval_ms: how often librdkafka reports, unless the consumer's settings
            already say.
        metering: whether a meter provider was given (else the global one counts).
    """

    def __init__(self, interval_ms: int = 5000, *, metering: bool = False) -> None:
        self._interval_ms = interval_ms
        self._metering = metering
        self._lock = threading.Lock()
        # consumer name -> (valid until (monotonic), (group, topic, partition) -> lag)
        self._lags: dict[str, tuple[float, dict[tuple[str, str, int], int]]] = {}

    def consumer_settings(self, name: str, group: str, config: Mapping[str, Any]) -> dict[str, Any]:
        """Settings to merge into the consumer config ``config`` of consumer ``name``.

        Empty when the application installed its own ``stats_cb``, or when no meter
        provider is configured (nobody would read the gauge).
        """
        if "stats_cb" in config or not (self._metering or global_metrics_configured()):
            return {}
        interval = config.get("statistics.interval.ms") or self._interval_ms
        # A consumer that stopped reporting (closed) drops out after three missed reports.
        ttl = 3 * int(interval) / 1000
        return {"statistics.interval.ms": interval, "stats_cb": self._callback(name, group, ttl)}

    def _callback(self, name: str, group: str, ttl: float) -> Callable[[str], None]:
        def on_stats(stats_json: str) -> None:
            try:
                lags = _partition_lags(group, json.loads(stats_json))
            except (ValueError, TypeError, AttributeError):
                logger.debug("unreadable librdkafka statistics from %s", name, exc_info=True)
                return
            with self._lock:
                self._lags[name] = (time.monotonic() + ttl, lags)

        return on_stats

    def forget(self, name: str) -> None:
        """Drop a stopped consumer's partitions."""
        with self._lock:
            self._lags.pop(name, None)

    def snapshot(self) -> dict[tuple[str, str, int], int]:
        """The latest lag of every partition, by (group, topic, partition)."""
        with self._lock:
            now = time.monotonic()
            return {
                key: lag
                for until, lags in self._lags.values()
                if until > now
                for key, lag in lags.items()
            }

    def observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        """Observations for an observable gauge."""
        return [
            Observation(
                lag,
                {
                    "messaging.system": "kafka",
                    "messaging.consumer.group.name": group,
                    "messaging.destination.name": topic,
                    "messaging.destination.partition.id": str(partition),
                },
            )
            for (group, topic, partition), lag in self.snapshot().items()
        ]


def _list_headers(message: Message) -> list[tuple[str, bytes | None]] | None:
    # Consumed records give their headers as a list of (name, bytes) pairs.
    return cast("list[tuple[str, bytes | None]] | None", message.headers())


def _partition_lags(group: str, stats: dict[str, Any]) -> dict[tuple[str, str, int], int]:
    found: dict[tuple[str, str, int], int] = {}
    for topic, info in stats.get("topics", {}).items():
        for partition, details in info.get("partitions", {}).items():
            number = int(partition)
            if number < 0 or details.get("fetch_state") != "active":
                continue  # the internal unassigned partition, or one not fetched here
            lag = details.get("consumer_lag", -1)
            if lag < 0:
                # Nothing committed yet: every record still in the partition is behind.
                high, low = details.get("hi_offset", -1), details.get("lo_offset", -1)
                lag = high - low if high >= 0 and low >= 0 else -1
            if lag >= 0:
                found[(group, str(topic), number)] = int(lag)
    return found
