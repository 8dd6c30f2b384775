"""Traces and metrics of ``KafkaAgentRuntime``.

Traces: an RPC is a PRODUCER span (``autogen create <type>.(<key>)-A``, autogen's own
naming) on the caller; each request record is handled in a CONSUMER span
(``autogen process …``) whose parent is read from the record's ``traceparent``
header, so a call chain across workers is one trace. Whatever the handler sends
(nested calls, the reply) carries that span's context on in its headers.

Metrics (meter ``akx_runtime``; attributes in brackets):

- ``akx.message.processing.duration`` histogram, seconds [``akx.agent.type``,
  ``akx.outcome``]: receipt of a request record to its reply queued;
- ``akx.rpc.in_flight`` up-down counter [``akx.agent.type``]: RPCs awaiting a reply;
- ``akx.rpc.outcomes`` counter and ``akx.rpc.duration`` histogram, seconds
  [``akx.agent.type``, ``akx.outcome``]: finished RPCs;
- ``akx.registrations`` counter [``akx.agent.type``, ``akx.registration.action``];
- ``akx.dead_letters`` counter [``messaging.destination.name``, ``error.type``];
- ``akx.consumer.lag`` gauge [group, topic, partition]: from librdkafka statistics.

Outcomes: ``ok``, ``error``, ``timeout`` (RPCs); ``ok``, ``error``, ``dead_letter``
(processing).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any

from autogen_core import AgentId
from autogen_core._telemetry import MessageRuntimeTracingConfig, TraceHelper
from confluent_kafka import Message
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider

from akx_events._constants import HEADER_ID, HEADER_MESSAGE_KIND
from akx_events._telemetry import (
    ConsumerLag,
    RpcInstruments,
    Tracing,
    dead_letter_counter,
    error_type,
    global_metrics_configured,
    header_value,
    log_fields,
    make_meter,
)

from .exceptions import RequestTimeoutError

__all__ = ["RuntimeTelemetry", "log_fields"]

_SCOPE = "akx_runtime"
_AGENT_TYPE = "akx.agent.type"
_OUTCOME = "akx.outcome"

RecordHandler = Callable[[Message], Awaitable[Any]]

_NOTHING: contextlib.AbstractContextManager[None] = contextlib.nullcontext()


@dataclass
class _Handling:
    """What the runtime learns about one record while handling it."""

    span: Span | None
    outcome: str = "ok"


# The record being handled by the current task, for the runtime's hooks.
_HANDLING: contextvars.ContextVar[_Handling | None] = contextvars.ContextVar(
    "akx_runtime_handling", default=None
)


class RuntimeTelemetry:
    """The runtime's tracer, instruments and hooks.

    Args:
        tracer_provider: where spans go; the global provider when ``None``.
        meter_provider: where metrics go; the global provider when ``None``.
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        # autogen-core's switch for its runtimes' spans, honoured here too.
        disabled = os.environ.get("AUTOGEN_DISABLE_RUNTIME_TRACING") == "true"
        self._tracing = Tracing(_SCOPE, tracer_provider, disabled=disabled)
        self._meter_given = meter_provider is not None
        self._names = MessageRuntimeTracingConfig("KafkaAgentRuntime")
        # autogen's helper for the spans autogen's runtimes also make (publish).
        self._trace = TraceHelper(tracer_provider, self._names)
        meter = make_meter(_SCOPE, meter_provider)
        self._processing = meter.create_histogram(
            "akx.message.processing.duration",
            unit="s",
            description="Time to handle one request record, from receipt to the reply queued.",
        )
        rpcs = RpcInstruments.create(meter, "RPCs")
        self._in_flight, self._outcomes, self._rpc_duration = (
            rpcs.in_flight,
            rpcs.outcomes,
            rpcs.duration,
        )
        self._registrations = meter.create_counter(
            "akx.registrations",
            unit="{record}",
            description="Agent type registrations written by this worker.",
        )
        self._dead_letters = dead_letter_counter(meter)
        self._lag = ConsumerLag(metering=meter_provider is not None)
        self._groups: dict[str, str] = {}  # agent type -> its request consumer group
        self._lag_gauge = meter.create_observable_gauge(
            "akx.consumer.lag",
            callbacks=[self._lag.observe],
            unit="{message}",
            description="Records between a request partition's end and its committed offset.",
        )

    @property
    def tracing(self) -> bool:
        """Whether spans are recorded."""
        return self._tracing.enabled

    @property
    def active(self) -> bool:
        """Whether anything is recorded: spans or metrics. When not, hooks do no work."""
        return self._meter_given or self._tracing.enabled or global_metrics_configured()

    def trace_headers(self) -> list[tuple[str, bytes]]:
        """Trace headers for a record produced now (none while tracing is off)."""
        return self._tracing.headers()

    def span(self, *args: Any, **kwargs: Any) -> contextlib.AbstractContextManager[Any]:
        """An autogen-style span (``TraceHelper.trace_block`` arguments), when tracing.

        ``process`` spans are made per record by :meth:`record_handler`; asked for
        again inside one, nothing new is started.
        """
        if not self._tracing.enabled:
            return contextlib.nullcontext()
        if args and args[0] == "process" and _HANDLING.get() is not None:
            return contextlib.nullcontext()
        return self._trace.trace_block(*args, **kwargs)

    # ---------------------------------------------------------------- requests

    def record_handler(self, agent_type: str, handle: RecordHandler) -> RecordHandler:
        """Wrap the request handler of ``agent_type``: a span and a duration per record."""
        names = self._names
        attributes = {"messaging.operation": "process"}
        agent_type_only = {_AGENT_TYPE: agent_type}

        async def handle_record(message: Message) -> Any:
            if not self.active:
                return await handle(message)
            started = time.perf_counter()
            handling = _Handling(span=None)
            token = _HANDLING.set(handling)
            try:
                if not self._tracing.enabled:
                    return await handle(message)
                key = message.key()
                agent = AgentId(agent_type, key.decode("utf-8", "replace") if key else "default")
                span_attributes = {
                    **attributes,
                    "messaging.destination": f"{agent.type}.({agent.key})-A",
                    "messaging.message.id": header_value(message, HEADER_ID) or "",
                    "akx.message.kind": header_value(message, HEADER_MESSAGE_KIND) or "",
                    "messaging.consumer.group.name": self._groups.get(agent_type, ""),
                }
                name = names.get_span_name("process", agent)
                with self._tracing.consume(
                    name, message, span_attributes, link_parent=True
                ) as span:
                    handling.span = span
                    return await handle(message)
            except BaseException:
                handling.outcome = "error"
                raise
            finally:
                _HANDLING.reset(token)
                self._processing.record(
                    time.perf_counter() - started, {**agent_type_only, _OUTCOME: handling.outcome}
                )

        return handle_record

    def handler_failed(self, error: BaseException) -> None:
        """The agent's handler raised ``error`` (sent back to the caller)."""
        handling = _HANDLING.get()
        if handling is None:
            return
        handling.outcome = "error"
        if handling.span is not None:
            handling.span.record_exception(error)
            handling.span.set_status(Status(StatusCode.ERROR, type(error).__name__))

    def dead_lettered(self, record: Message, error: BaseException) -> None:
        """A request record was copied to its dead-letter topic because of ``error``."""
        self._dead_letters.add(
            1,
            {
                "messaging.destination.name": record.topic() or "",
                "error.type": error_type(error),
            },
        )
        handling = _HANDLING.get()
        if handling is not None:
            handling.outcome = "dead_letter"
            if handling.span is not None:
                handling.span.set_status(Status(StatusCode.ERROR, type(error).__name__))

    # -------------------------------------------------------------------- calls

    def rpc(
        self, recipient: AgentId, *, topic: str, message_id: str, message_type: str
    ) -> contextlib.AbstractContextManager[None]:
        """Count and time one RPC; a current PRODUCER span while tracing."""
        if not self.active:
            return _NOTHING
        return self._rpc(recipient, topic=topic, message_id=message_id, message_type=message_type)

    @contextlib.contextmanager
    def _rpc(
        self, recipient: AgentId, *, topic: str, message_id: str, message_type: str
    ) -> Generator[None, None, None]:
        attributes = {_AGENT_TYPE: recipient.type}
        self._in_flight.add(1, attributes)
        started = time.perf_counter()
        outcome = "error"
        try:
            if self._tracing.enabled:
                with self._trace.trace_block(
                    "create",
                    recipient,
                    None,
                    extraAttributes={"message_type": message_type},
                    kind=SpanKind.PRODUCER,
                    attributes={
                        "messaging.system": "kafka",
                        "messaging.destination.name": topic,
                        "messaging.message.id": message_id,
                    },
                ):
                    yield
            else:
                yield
            outcome = "ok"
        except RequestTimeoutError:
            outcome = "timeout"
            raise
        finally:
            self._in_flight.add(-1, attributes)
            done = {**attributes, _OUTCOME: outcome}
            self._outcomes.add(1, done)
            self._rpc_duration.record(time.perf_counter() - started, done)

    # ------------------------------------------------------------ bookkeeping

    def registered(self, agent_type: str, action: str) -> None:
        """This worker wrote a registration record."""
        self._registrations.add(1, {_AGENT_TYPE: agent_type, "akx.registration.action": action})

    def consumer_settings(self, agent_type: str, config: Mapping[str, Any]) -> dict[str, Any]:
        """Librdkafka statistics settings feeding ``akx.consumer.lag`` for a request consumer.

        Args:
            agent_type: the agent type whose request topic the consumer reads.
            config: the consumer's settings (its group and any statistics settings).
        """
        group = self._groups[agent_type] = str(config.get("group.id", ""))
        return self._lag.consumer_settings(agent_type, group, config)
