"""Errors raised by akx packages. Every akx error derives from :class:`AkxError`.

```
AkxError
├── ConfigurationError (also ValueError)      bad configuration, found before any I/O
│   └── UnsupportedTypeError                   a dataclass field Avro cannot represent
├── EventError
│   ├── InvalidEventError (also ValueError)    an event built with inconsistent fields
│   ├── EventEncodeError
│   │   └── PayloadTooLargeError
│   ├── EventDecodeError
│   │   └── UnknownSchemaError                 schema id not (yet) known to the decoder
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
    "InvalidEventError",
    "KafkaTransportError",
    "PayloadTooLargeError",
    "SchemaIncompatibleError",
    "SchemaRegistryError",
    "UnknownSchemaError",
    "UnsupportedTypeError",
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


class UnsupportedTypeError(ConfigurationError):
    """Raised when a dataclass field has a type that has no Avro mapping.

    ``field`` names the dataclass and the field (``MyMessage.items``).
    """


class EventError(AkxError):
    """Raised when an event cannot be encoded, decoded or registered."""


class InvalidEventError(EventError, ValueError):
    """Raised when an event is constructed with fields that contradict each other."""


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


class UnknownSchemaError(EventDecodeError):
    """Raised when a record names a schema id the decoder has not loaded.

    The synchronous decoders never call Schema Registry; their asynchronous
    variants fetch the schema once and succeed where the id exists.

    Attributes:
        schema_id: the id found in the record.
    """

    def __init__(self, schema_id: int, message: str) -> None:
        super().__init__(message)
        self.schema_id = schema_id


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
