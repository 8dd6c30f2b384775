"""Errors raised by akx-memory. Every one derives from ``akx_events.exceptions.AkxError``.

```
AkxError
├── ConfigurationError (akx-events; also ValueError)   a bad KafkaMemoryConfig or YAML file
└── KafkaMemoryError
    ├── UnsupportedContentError (also TypeError)    content or metadata that cannot be stored
    ├── MemoryEntryNotFoundError (also LookupError) update/delete of an id this instance
    │                                                does not see
    ├── MemoryStateError (also RuntimeError)         used before start or after close
    └── ReplayTimeoutError (also TimeoutError)       the topic was not replayed in time
```
Broker and Schema Registry failures surface as ``akx_events.exceptions.KafkaTransportError``
and its subclasses.
"""

from __future__ import annotations

from akx_events.exceptions import AkxError

__all__ = [
    "KafkaMemoryError",
    "MemoryEntryNotFoundError",
    "MemoryStateError",
    "ReplayTimeoutError",
    "UnsupportedContentError",
]


class KafkaMemoryError(AkxError):
    """Root of the errors raised by akx-memory."""


class UnsupportedContentError(KafkaMemoryError, TypeError):
    """Raised when a ``MemoryContent`` holds a value that cannot round-trip exactly.

    Attributes:
        path: where the value sits, e.g. ``content`` or ``metadata['when']``.
        value_type: the name of the offending type.
    """

    def __init__(self, path: str, value_type: str, reason: str) -> None:
        super().__init__(f"{path}: cannot store a value of type {value_type}: {reason}")
        self.path = path
        self.value_type = value_type


class MemoryEntryNotFoundError(KafkaMemoryError, LookupError):
    """Raised when ``update`` or ``delete`` names an entry this instance does not see.

    Attributes:
        memory_id: the id that was asked for.
    """

    def __init__(self, memory_id: str, session_id: str) -> None:
        super().__init__(f"no memory entry {memory_id!r} in session {session_id!r}")
        self.memory_id = memory_id


class MemoryStateError(KafkaMemoryError, RuntimeError):
    """Raised when a ``KafkaMemory`` is used before ``start()`` or after ``close()``."""


class ReplayTimeoutError(KafkaMemoryError, TimeoutError):
    """Raised when ``start()`` could not replay the memory topic within ``start_timeout``."""
