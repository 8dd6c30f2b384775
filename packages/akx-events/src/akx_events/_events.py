"""The akx event vocabulary: what travels over Kafka between akx workers.

Every event is a frozen, keyword-only dataclass whose fields map one to one onto
the Avro record of the same name in ``schemas/`` (namespace ``io.akx.events``).
Timestamps are timezone-aware, normalised to UTC when the event is made, and have
microsecond precision (Avro ``timestamp-micros``), so an event survives an
encode/decode round trip exactly.
"""

from __future__ import annotations

import traceback as _traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal

from .exceptions import InvalidEventError

__all__ = [
    "EVENT_TYPES",
    "AgentRef",
    "AgentStateEvent",
    "AnyEvent",
    "ErrorInfo",
    "MemoryAction",
    "MemoryEvent",
    "RegistrationAction",
    "RegistrationEvent",
    "RequestEvent",
    "RequestKind",
    "ResponseEvent",
    "SubscriptionAction",
    "SubscriptionEvent",
    "SubscriptionKind",
]

RequestKind = Literal["rpc_request", "publish"]
RegistrationAction = Literal["register", "unregister"]
SubscriptionKind = Literal["type", "type_prefix", "custom"]
SubscriptionAction = Literal["add", "remove"]
MemoryAction = Literal["add", "update", "delete", "clear"]


def utc_now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(timezone.utc)


def _check_time(event: object, value: datetime) -> None:
    # A naive datetime would be written as if it were UTC and come back aware, so
    # the round trip would not be exact: refuse it where it is made. Other offsets
    # are stored as UTC, which is also what decoding gives back.
    offset = value.utcoffset()
    if offset is None:
        raise InvalidEventError(
            f"{type(event).__name__}.time must be timezone-aware, got {value!r}"
        )
    if offset or value.tzinfo is not timezone.utc:
        try:
            utc = value.astimezone(timezone.utc)
        except OverflowError as exc:
            raise InvalidEventError(
                f"{type(event).__name__}.time {value!r} is out of range in UTC"
            ) from exc
        object.__setattr__(event, "time", utc)


def _check_message_id(event: object, message_id: str) -> None:
    # It becomes the CloudEvents id, which must not be empty.
    if not message_id:
        raise InvalidEventError(f"{type(event).__name__}.message_id must not be empty")


@dataclass(frozen=True, kw_only=True)
class AgentRef:
    """An agent's identity on the wire: AutoGen's ``AgentId`` without the dependency.

    Attributes:
        type: the agent type (``AgentId.type``).
        key: the agent key within its type (``AgentId.key``).
    """

    type: str
    key: str

    def __str__(self) -> str:
        return f"{self.type}/{self.key}"


@dataclass(frozen=True, kw_only=True)
class ErrorInfo:
    """Why a request failed, as carried back to the caller.

    Attributes:
        exception_type: qualified name of the exception class, e.g. ``builtins.ValueError``.
        message: ``str(exception)``.
        traceback: the formatted remote traceback, when the handler chose to send it.
    """

    exception_type: str
    message: str
    traceback: str | None = None

    @classmethod
    def from_exception(cls, exc: BaseException, *, include_traceback: bool = True) -> ErrorInfo:
        """Describe ``exc``, optionally with its formatted traceback."""
        kind = type(exc)
        formatted = "".join(_traceback.format_exception(exc)) if include_traceback else None
        return cls(
            exception_type=f"{kind.__module__}.{kind.__qualname__}",
            message=str(exc),
            traceback=formatted,
        )


@dataclass(frozen=True, kw_only=True)
class RequestEvent:
    """A message for an agent: an RPC request (``send_message``) or a publication.

    Attributes:
        message_id: unique id of the message; responses carry it back.
        kind: ``rpc_request`` (a reply is awaited) or ``publish`` (one-way).
        payload: the serialized AutoGen message.
        type_name: AutoGen type name of the payload (``MessageSerializer.type_name``).
        recipient: the addressed agent; required for ``rpc_request``.
        sender: the sending agent, when the message comes from an agent.
        reply_to: topic on which the caller waits for the reply; ``None`` for publish.
        topic_type: for publish, ``TopicId.type``.
        topic_source: for publish, ``TopicId.source``.
        data_content_type: content type of the payload (JSON or protobuf).
        time: when the message was sent.
        metadata: free-form string attributes (cancellation, deadlines, ...).
    """

    message_id: str
    kind: RequestKind
    payload: bytes
    type_name: str
    recipient: AgentRef | None = None
    sender: AgentRef | None = None
    reply_to: str | None = None
    topic_type: str | None = None
    topic_source: str | None = None
    data_content_type: str = "application/json"
    time: datetime = field(default_factory=utc_now)
    metadata: dict[str, str] = field(default_factory=dict[str, str])

    def __post_init__(self) -> None:
        _check_time(self, self.time)
        _check_message_id(self, self.message_id)
        if self.kind == "rpc_request" and self.recipient is None:
            raise InvalidEventError("RequestEvent.recipient is required for kind 'rpc_request'")


@dataclass(frozen=True, kw_only=True)
class ResponseEvent:
    """The answer to an RPC request: a result payload or an error.

    Attributes:
        message_id: ``message_id`` of the request this answers.
        sender: the agent that handled the request.
        recipient: the caller, when it was an agent.
        payload: the serialized result (empty when ``error`` is set).
        type_name: AutoGen type name of the result.
        data_content_type: content type of the result.
        error: why the request failed, or ``None`` on success.
        time: when the response was sent.
        metadata: free-form string attributes.
    """

    message_id: str
    sender: AgentRef
    recipient: AgentRef | None = None
    payload: bytes = b""
    type_name: str = ""
    data_content_type: str = "application/json"
    error: ErrorInfo | None = None
    time: datetime = field(default_factory=utc_now)
    metadata: dict[str, str] = field(default_factory=dict[str, str])

    def __post_init__(self) -> None:
        _check_time(self, self.time)
        _check_message_id(self, self.message_id)


@dataclass(frozen=True, kw_only=True)
class RegistrationEvent:
    """A worker announces (or withdraws) that it hosts an agent type.

    Attributes:
        agent_type: the agent type.
        worker_id: the announcing worker.
        action: ``register`` or ``unregister``.
        time: when it happened.
        metadata: free-form string attributes (e.g. the worker's reply topic).
    """

    agent_type: str
    worker_id: str
    action: RegistrationAction
    time: datetime = field(default_factory=utc_now)
    metadata: dict[str, str] = field(default_factory=dict[str, str])

    def __post_init__(self) -> None:
        _check_time(self, self.time)


@dataclass(frozen=True, kw_only=True)
class SubscriptionEvent:
    """A subscription added or removed by a worker.

    Attributes:
        subscription_id: AutoGen ``Subscription.id``.
        kind: ``type`` (TypeSubscription), ``type_prefix`` (TypePrefixSubscription) or
            ``custom`` (any other subscription, serialized in ``payload``).
        topic_type: the topic type, or the prefix for ``type_prefix``.
        agent_type: the agent type that receives the matching publications.
        worker_id: the worker that made the change.
        action: ``add`` or ``remove``.
        payload: serialized custom subscription, for ``custom``.
        type_name: type name of ``payload``.
        time: when it happened.
    """

    subscription_id: str
    kind: SubscriptionKind
    topic_type: str
    agent_type: str
    worker_id: str
    action: SubscriptionAction
    payload: bytes | None = None
    type_name: str | None = None
    time: datetime = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        _check_time(self, self.time)


@dataclass(frozen=True, kw_only=True)
class MemoryEvent:
    """A change to a shared memory session (the akx-memory changelog).

    Attributes:
        session_id: the memory session.
        action: ``add``, ``update``, ``delete`` or ``clear``.
        memory_id: the entry changed; ``None`` for ``clear``.
        content: the entry's content (empty for ``delete`` and ``clear``).
        mime_type: MIME type of ``content``.
        metadata_json: the entry's metadata as a JSON object, if any.
        source: id of the writer.
        time: when it happened.
    """

    session_id: str
    action: MemoryAction
    memory_id: str | None = None
    content: bytes = b""
    mime_type: str = "text/plain"
    metadata_json: str | None = None
    source: str = ""
    time: datetime = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        _check_time(self, self.time)


@dataclass(frozen=True, kw_only=True)
class AgentStateEvent:
    """A snapshot of an agent's saved state (``save_state``), keyed by the agent.

    Attributes:
        agent: whose state this is.
        state: the state as JSON bytes.
        version: increases with every snapshot of this agent.
        deleted: marks that the state was removed (a marker record, not a tombstone).
        time: when the snapshot was taken.
    """

    agent: AgentRef
    state: bytes
    version: int
    deleted: bool = False
    time: datetime = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        _check_time(self, self.time)


AnyEvent = (
    RequestEvent
    | ResponseEvent
    | RegistrationEvent
    | SubscriptionEvent
    | MemoryEvent
    | AgentStateEvent
)

#: Every event type, in the order of the shipped schemas.
EVENT_TYPES: tuple[type[AnyEvent], ...] = (
    RequestEvent,
    ResponseEvent,
    RegistrationEvent,
    SubscriptionEvent,
    MemoryEvent,
    AgentStateEvent,
)
