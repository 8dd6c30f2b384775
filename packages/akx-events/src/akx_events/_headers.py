"""CloudEvents attributes of akx events as Kafka headers (binary content mode).

Each record carries ``ce_specversion``, ``ce_id``, ``ce_source``, ``ce_type``,
``ce_time`` and ``content-type``; requests and responses add AutoGen's
``ce_agmsgkind`` and, when the sender is an agent, ``ce_agagentsendertype`` /
``ce_agagentsenderkey``. The Avro body stays the authority: the headers repeat what
a router or a CloudEvents consumer needs without decoding it.

``ce_id`` is unique per (source, event) as CloudEvents asks: a request's message id;
the same id with ``:response`` for its response; for the other events an id derived
from their identifying fields, so re-encoding an event gives it the same id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ._constants import (
    AVRO_CONTENT_TYPE,
    CE_PREFIX,
    CE_SPECVERSION,
    CONTENT_TYPE_HEADER,
    EVENT_TYPE_PREFIX,
    HEADER_AGENT_SENDER_KEY,
    HEADER_AGENT_SENDER_TYPE,
    HEADER_ID,
    HEADER_MESSAGE_KIND,
    HEADER_SOURCE,
    HEADER_SPECVERSION,
    HEADER_TIME,
    HEADER_TYPE,
    MESSAGE_KIND_ERROR,
    MESSAGE_KIND_RPC_RESPONSE,
)
from ._events import (
    AgentRef,
    AgentStateEvent,
    AnyEvent,
    MemoryEvent,
    RegistrationEvent,
    RequestEvent,
    ResponseEvent,
    SubscriptionEvent,
)
from .exceptions import EventDecodeError

__all__ = [
    "Header",
    "HeaderWriter",
    "RecordHeaders",
    "check_headers",
    "event_type_name",
    "passthrough_headers",
]

#: A header as the serdes write it.
Header = tuple[str, bytes]
#: Headers as a consumed record carries them: what ``confluent_kafka.Message.headers()``
#: returns (values may be ``None``; confluent-kafka's type also allows a mapping).
RecordHeaders = Sequence[tuple[str, "str | bytes | None"]] | Mapping[str, "str | bytes | None"]
_SPECVERSION = CE_SPECVERSION.encode()
_AVRO = AVRO_CONTENT_TYPE.encode()
_RPC_RESPONSE = MESSAGE_KIND_RPC_RESPONSE.encode()
_ERROR = MESSAGE_KIND_ERROR.encode()
_KINDS = {"rpc_request": b"rpc_request", "publish": b"publish"}


def event_type_name(cls: type[Any]) -> str:
    """The ``ce_type`` of an event class, e.g. ``io.akx.events.RequestEvent``."""
    return EVENT_TYPE_PREFIX + cls.__name__


def rfc3339(moment: datetime) -> bytes:
    """``moment`` as an RFC 3339 timestamp with microseconds (``Z`` for UTC)."""
    text = moment.isoformat(timespec="microseconds")
    if text.endswith("+00:00"):
        text = text[:-6] + "Z"
    return text.encode()


def _sender(headers: list[Header], sender: AgentRef | None) -> list[Header]:
    if sender is not None:
        headers.append((HEADER_AGENT_SENDER_TYPE, sender.type.encode()))
        headers.append((HEADER_AGENT_SENDER_KEY, sender.key.encode()))
    return headers


class HeaderWriter:
    """Builds the CloudEvents headers of events, for one ``ce_source``."""

    def __init__(self, source: str) -> None:
        self._source = source.encode()
        self._by_type: dict[type[Any], Callable[[Any], list[Header]]] = {
            RequestEvent: self._request,
            ResponseEvent: self._response,
            RegistrationEvent: self._registration,
            SubscriptionEvent: self._subscription,
            MemoryEvent: self._memory,
            AgentStateEvent: self._agent_state,
        }
        self._types = {cls: event_type_name(cls).encode() for cls in self._by_type}

    def headers(self, event: AnyEvent) -> list[Header]:
        """The CloudEvents headers of ``event``, as a new list the caller may extend."""
        return self._by_type[type(event)](event)

    def _base(self, event: AnyEvent, event_id: str) -> list[Header]:
        return [
            (HEADER_SPECVERSION, _SPECVERSION),
            (HEADER_ID, event_id.encode()),
            (HEADER_SOURCE, self._source),
            (HEADER_TYPE, self._types[type(event)]),
            (HEADER_TIME, rfc3339(event.time)),
            (CONTENT_TYPE_HEADER, _AVRO),
        ]

    def _request(self, event: RequestEvent) -> list[Header]:
        headers = self._base(event, event.message_id)
        headers.append((HEADER_MESSAGE_KIND, _KINDS[event.kind]))
        return _sender(headers, event.sender)

    def _response(self, event: ResponseEvent) -> list[Header]:
        headers = self._base(event, event.message_id + ":response")
        headers.append((HEADER_MESSAGE_KIND, _RPC_RESPONSE if event.error is None else _ERROR))
        return _sender(headers, event.sender)

    def _registration(self, event: RegistrationEvent) -> list[Header]:
        moment = event.time.isoformat()
        return self._base(event, f"{event.worker_id}/{event.agent_type}/{event.action}@{moment}")

    def _subscription(self, event: SubscriptionEvent) -> list[Header]:
        moment = event.time.isoformat()
        return self._base(event, f"{event.subscription_id}/{event.action}@{moment}")

    def _memory(self, event: MemoryEvent) -> list[Header]:
        moment = event.time.isoformat()
        entry = event.memory_id if event.memory_id is not None else "*"
        return self._base(event, f"{event.session_id}/{entry}/{event.action}@{moment}")

    def _agent_state(self, event: AgentStateEvent) -> list[Header]:
        return self._base(event, f"{event.agent.type}/{event.agent.key}@{event.version}")


def check_headers(headers: RecordHeaders | None, ce_type: bytes) -> None:
    """Check that a record's headers announce a CloudEvent of type ``ce_type`` in Avro.

    Raises:
        EventDecodeError: headers are missing or malformed, or announce another
            spec version, type or content type.
    """
    try:
        found: dict[Any, Any] = dict(headers)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise EventDecodeError(f"record headers are not (name, value) pairs: {exc}") from exc
    if found.get(HEADER_SPECVERSION) != _SPECVERSION:
        raise EventDecodeError(
            f"header {HEADER_SPECVERSION} is {found.get(HEADER_SPECVERSION)!r}, "
            f"expected {_SPECVERSION!r}"
        )
    if found.get(HEADER_TYPE) != ce_type:
        raise EventDecodeError(
            f"header {HEADER_TYPE} is {found.get(HEADER_TYPE)!r} but the value's schema "
            f"is {ce_type.decode()}"
        )
    if found.get(CONTENT_TYPE_HEADER) != _AVRO:
        raise EventDecodeError(
            f"header {CONTENT_TYPE_HEADER} is {found.get(CONTENT_TYPE_HEADER)!r}, "
            f"expected {_AVRO!r}"
        )


def passthrough_headers(headers: RecordHeaders) -> tuple[tuple[str, bytes | None], ...]:
    """The headers that are not CloudEvents attributes (trace context and the like).

    Text values (possible only in hand-made header lists) are returned UTF-8 encoded.
    """
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return tuple(
        (name, value.encode() if isinstance(value, str) else value)
        for name, value in pairs
        if not (name.startswith(CE_PREFIX) or name == CONTENT_TYPE_HEADER)
    )
