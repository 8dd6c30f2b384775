"""``KafkaMessageType``: the base of the typed messages a bridge sends and receives."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

__all__ = ["KafkaMessageType", "check_message_type", "namespace_of"]


class KafkaMessageType:
    """Base class of the request and response types of a :class:`KafkaStreamingAgent`.

    Subclasses are ``@dataclass`` classes; their Avro schema is derived from the fields
    (see ``akx_events.avro_schema_for`` for the type mapping) and registered in Schema
    Registry under the subject of the topic they travel on (``<topic>-value``)::

        @dataclass
        class SentimentRequest(KafkaMessageType):
            avro_namespace = "com.example.sentiment"
            text: str

    The Avro record is named after the class, in the namespace ``avro_namespace``
    (default: the Python module). The full name is part of the contract with the
    external service, so pin the namespace if the class may move between modules.
    """

    __slots__ = ()

    #: Avro namespace of the record; ``None`` means the class's module.
    avro_namespace: ClassVar[str | None] = None


def check_message_type(argument: str, value: Any) -> None:
    """Check that ``value`` is a ``@dataclass`` subclass of :class:`KafkaMessageType`.

    Raises:
        TypeError: naming ``argument`` and what was given instead.
    """
    expected = f"{argument} must be a @dataclass subclass of KafkaMessageType"
    if value is None:
        raise TypeError(f"{expected}; it is required (got None)")
    if not isinstance(value, type):
        raise TypeError(f"{expected}, got the {type(value).__name__} {value!r}")
    if not issubclass(value, KafkaMessageType):
        raise TypeError(f"{expected}, got {value.__qualname__} which does not derive from it")
    if not dataclasses.is_dataclass(value):
        raise TypeError(f"{expected}, got {value.__qualname__} which is not a @dataclass")


def namespace_of(cls: type[Any]) -> str | None:
    """The Avro namespace a message type asks for (``None``: its module)."""
    namespace = getattr(cls, "avro_namespace", None)
    return namespace if isinstance(namespace, str) and namespace else None
