"""Errors raised by akx packages. Every akx error derives from :class:`AkxError`.

```
AkxError
├── ConfigurationError (also ValueError)      bad configuration, found before any I/O
├── EventError
│   ├── EventEncodeError
│   │   └── PayloadTooLargeError
│   ├── EventDecodeError
│   └── SchemaIncompatibleError
└── KafkaTransportError (retriable flag)       the broker or registry failed us
    ├── BrokerUnavailableError (retriable)
    └── SchemaRegistryError
```
"""

from __future__ import annotations

__all__ = [
    "AkxError",
    "BrokerUnavailableError",
    "ConfigurationError",
    "EventDecodeError",
    "EventEncodeError",
    "EventError",
    "KafkaTransportError",
    "PayloadTooLargeError",
    "SchemaIncompatibleError",
    "SchemaRegistryError",
]


class AkxError(Exception):
    """Root of every error raised by akx packages."""


class ConfigurationError(AkxError, ValueError):
    """Raised when a configuration value is missing or invalid.

    Attributes:
        field: dotted name of the offending setting (``kafka.bootstrap_servers``).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class EventError(AkxError):
    """Raised when an event cannot be encoded, decoded or registered."""


class EventEncodeError(EventError):
    """Raised when an event cannot be turned into a Kafka record."""


class PayloadTooLargeError(EventEncodeError):
    """Raised when an encoded record exceeds the configured size limit, before producing.

    Attributes:
        size: encoded size in bytes.
        limit: the configured limit in bytes.
    """

    def __init__(self, size: int, limit: int, what: str = "record") -> None:
        super().__init__(f"{what} is {size} bytes, over the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class EventDecodeError(EventError):
    """Raised when a Kafka record cannot be read as an akx event."""


class SchemaIncompatibleError(EventError):
    """Raised when Schema Registry rejects a schema as incompatible with earlier versions."""


class KafkaTransportError(AkxError):
    """Raised when the broker or Schema Registry fails an operation.

    Attributes:
        retriable: whether trying again later may succeed.
    """

    retriable: bool = False

    def __init__(self, message: str, *, retriable: bool | None = None) -> None:
        super().__init__(message)
        if retriable is not None:
            self.retriable = retriable


class BrokerUnavailableError(KafkaTransportError):
    """Raised when no broker of the configured bootstrap servers answers in time."""

    retriable = True


class SchemaRegistryError(KafkaTransportError):
    """Raised when Schema Registry cannot be reached or rejects a request."""
