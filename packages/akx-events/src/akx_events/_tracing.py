"""Trace context in Kafka headers, through OpenTelemetry's configured propagator.

With the default W3C propagator these are the ``traceparent`` and ``tracestate``
headers. They ride next to the CloudEvents headers: :meth:`EventSerde.encode` takes
them as ``extra_headers`` and :class:`DecodedEvent` gives them back.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import propagate
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter

__all__ = ["extract_trace_context", "inject_trace_headers"]

_Headers = Sequence[tuple[str, "bytes | None"]]


class _KafkaHeadersGetter(Getter[_Headers]):
    """Reads propagation fields from confluent-kafka's list of (name, value) headers."""

    def get(self, carrier: _Headers, key: str) -> list[str] | None:
        values = [
            value.decode("utf-8", "replace")
            for name, value in carrier
            if name == key and value is not None
        ]
        return values or None

    def keys(self, carrier: _Headers) -> list[str]:
        return [name for name, _ in carrier]


_GETTER = _KafkaHeadersGetter()


def inject_trace_headers(context: Context | None = None) -> list[tuple[str, bytes]]:
    """Headers carrying the current (or given) trace context; empty when none is active."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    return [(name, value.encode("utf-8")) for name, value in carrier.items()]


def extract_trace_context(headers: _Headers | None, context: Context | None = None) -> Context:
    """The trace context carried by a record's headers (or ``context`` when none is)."""
    return propagate.extract(headers or [], context=context, getter=_GETTER)
