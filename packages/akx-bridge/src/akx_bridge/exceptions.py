"""Errors raised by akx-bridge.

```
akx_events.exceptions.AkxError
└── BridgeError
    ├── BridgeTimeoutError (also TimeoutError)     no reply within the request timeout
    ├── MalformedReplyError                        the reply could not be read (dead-lettered)
    ├── RemoteHandlerError                         the external handler answered with an error
    └── BridgeClosedError (also RuntimeError)      used after close(), or closed while waiting
```
Configuration mistakes raise ``akx_events.exceptions.ConfigurationError``; broker and
registry failures raise ``akx_events.exceptions.KafkaTransportError`` and its subclasses.
Wrong message types raise ``TypeError`` at construction and AutoGen's
``CantHandleException`` when a message arrives.
"""

from __future__ import annotations

from akx_events.exceptions import AkxError

__all__ = [
    "BridgeClosedError",
    "BridgeError",
    "BridgeTimeoutError",
    "MalformedReplyError",
    "RemoteHandlerError",
]


class BridgeError(AkxError):
    """Root of the errors raised by akx-bridge."""


class BridgeTimeoutError(BridgeError, TimeoutError):
    """Raised when no reply arrives within the request timeout.

    Attributes:
        correlation_id: the request's correlation id.
        timeout: the timeout in seconds.
    """

    def __init__(self, correlation_id: str, topic: str, timeout: float) -> None:
        super().__init__(
            f"no reply to request {correlation_id} (sent to {topic!r}) within {timeout:g} s"
        )
        self.correlation_id = correlation_id
        self.timeout = timeout


class MalformedReplyError(BridgeError):
    """Raised when the reply to a request cannot be decoded; the record is dead-lettered.

    Attributes:
        correlation_id: the request's correlation id.
        dead_letter_topic: where the reply record was copied.
    """

    def __init__(self, correlation_id: str, dead_letter_topic: str, reason: str) -> None:
        super().__init__(
            f"reply to request {correlation_id} is malformed ({reason}); "
            f"copied to {dead_letter_topic!r}"
        )
        self.correlation_id = correlation_id
        self.dead_letter_topic = dead_letter_topic


class RemoteHandlerError(BridgeError):
    """Raised when the external handler answered a request with an error reply.

    Attributes:
        correlation_id: the request's correlation id.
        error_type: the ``error-type`` header of the reply (e.g. ``builtins.ValueError``).
        error_message: the ``error-message`` header of the reply.
    """

    def __init__(self, correlation_id: str, error_type: str, error_message: str) -> None:
        super().__init__(f"request {correlation_id} failed remotely: {error_type}: {error_message}")
        self.correlation_id = correlation_id
        self.error_type = error_type
        self.error_message = error_message


class BridgeClosedError(BridgeError, RuntimeError):
    """Raised when a bridge or processor is used after ``close()``/``stop()``."""
