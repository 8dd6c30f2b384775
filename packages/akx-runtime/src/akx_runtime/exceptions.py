"""Errors raised by the Kafka agent runtime.

```
akx_events.exceptions.AkxError
└── AgentRuntimeError
    ├── RequestTimeoutError (also TimeoutError): no reply within the request timeout
    ├── RemoteHandlerError: the remote handler raised; its type is not importable here
    ├── UnserializableMessageError (also TypeError): no serializer for the message's type
    ├── PoisonMessageError: a request record nobody can handle (sent to the dead letters)
    └── RuntimeStateError (also RuntimeError): start/stop/reuse in the wrong order
```
AutoGen's own exceptions are raised where its docstrings say so:
``UndeliverableException`` and ``LookupError`` for recipients nobody hosts,
``CantHandleException`` from agents, ``MessageDroppedException`` from intervention handlers.
"""

from __future__ import annotations

from akx_events.exceptions import AkxError

__all__ = [
    "AgentRuntimeError",
    "PoisonMessageError",
    "RemoteHandlerError",
    "RequestTimeoutError",
    "RuntimeStateError",
    "UnserializableMessageError",
]


class AgentRuntimeError(AkxError):
    """Root of the errors raised by akx-runtime."""


class RequestTimeoutError(AgentRuntimeError, TimeoutError):
    """Raised when no reply arrives within the configured request timeout.

    Attributes:
        message_id: the request's message id.
        timeout: the timeout in seconds.
        request_position: where the request record was written (``topic[partition]@offset``),
            or ``None`` if the broker had not acknowledged it: the place to look for a
            consumer group that stopped reading.
    """

    def __init__(
        self,
        message_id: str,
        recipient: str,
        timeout: float,
        request_position: str | None = None,
    ) -> None:
        where = (
            f"; the request is at {request_position}"
            if request_position is not None
            else "; the broker had not acknowledged the request"
        )
        super().__init__(
            f"no reply from {recipient} to message {message_id} within {timeout:g} s{where}"
        )
        self.message_id = message_id
        self.timeout = timeout
        self.request_position = request_position


class RemoteHandlerError(AgentRuntimeError):
    """Raised when a remote handler failed with an exception type not importable here.

    Attributes:
        exception_type: qualified name of the remote exception's type.
        remote_traceback: the remote traceback, if it was sent.
    """

    def __init__(self, exception_type: str, message: str, remote_traceback: str | None) -> None:
        super().__init__(f"{exception_type}: {message}")
        self.exception_type = exception_type
        self.remote_traceback = remote_traceback


class UnserializableMessageError(AgentRuntimeError, TypeError):
    """Raised at the sender when no serializer can turn the message into bytes."""


class RuntimeStateError(AgentRuntimeError, RuntimeError):
    """Raised when the runtime is used in the wrong state (not started, closed ...)."""


class PoisonMessageError(AgentRuntimeError):
    """A request record no worker can handle: not a request, or an unreadable payload.

    The record is copied to ``<request topic>.dlq``; an RPC caller gets this error.
    """
