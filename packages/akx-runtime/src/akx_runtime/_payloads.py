"""Message payloads: AutoGen's serializers, plus a JSON fallback for plain values.

AutoGen's ``SerializationRegistry`` knows dataclasses, pydantic models and protobuf
messages once their serializers are registered. Across processes the receiving side
may not have registered the sender's type yet, so every payload also carries the
Python type's qualified name; a type whose module is already imported here is found
and its serializer added on the spot. Modules are never imported because a message
named them.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

from autogen_core import JSON_DATA_CONTENT_TYPE
from autogen_core._serialization import (  # AutoGen exports no public accessor for these.
    MessageSerializer,
    SerializationRegistry,
    UnknownPayload,
    try_get_known_serializers_for_type,
)

from .exceptions import UnserializableMessageError

__all__ = ["EncodedPayload", "PayloadCodec", "PLAIN_JSON_TYPE"]

#: type_name of payloads carried by the JSON fallback (str, int, dict, list ...).
PLAIN_JSON_TYPE = "akx.json"
_PLAIN = (str, int, float, bool, list, dict, tuple, type(None))


@dataclass(frozen=True, slots=True)
class EncodedPayload:
    """A serialized message with what is needed to read it back."""

    data: bytes
    type_name: str
    data_content_type: str
    python_type: str


def _qualified_name(cls: type[Any]) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _find_loaded_type(python_type: str) -> type[Any] | None:
    module_name, _, qualname = python_type.partition(":")
    module = sys.modules.get(module_name)
    if module is None or not qualname:
        return None
    found: Any = module
    for part in qualname.split("."):
        found = getattr(found, part, None)
        if found is None:
            return None
    return found if isinstance(found, type) else None


class PayloadCodec:
    """Serialize and deserialize message payloads for the runtime."""

    def __init__(self) -> None:
        self.registry = SerializationRegistry()
        # Per type name, the content types registered for it (every send asks; the
        # registry only answers by scanning all its serializers). Cleared on add.
        self._content_type_cache: dict[str, list[str]] = {}

    def add(self, serializer: MessageSerializer[Any] | list[MessageSerializer[Any]]) -> None:
        """Register serializers (``AgentRuntime.add_message_serializer``)."""
        self.registry.add_serializer(serializer)
        self._content_type_cache.clear()

    def add_type(self, cls: type[Any]) -> bool:
        """Register AutoGen's serializer for ``cls`` if it has one; says whether it did."""
        serializers = try_get_known_serializers_for_type(cls)
        if serializers:
            self.registry.add_serializer(serializers)
            self._content_type_cache.clear()
        return bool(serializers)

    def encode(self, message: Any) -> EncodedPayload:
        """Serialize a message.

        Raises:
            UnserializableMessageError: no serializer and no JSON fallback fits, naming
                the type.
        """
        cls: type[Any] = type(message)  # pyright: ignore[reportUnknownVariableType]
        type_name = self.registry.type_name(message)
        for content_type in self._content_types(type_name):
            return EncodedPayload(
                data=self.registry.serialize(
                    message, type_name=type_name, data_content_type=content_type
                ),
                type_name=type_name,
                data_content_type=content_type,
                python_type=_qualified_name(cls),
            )
        if not isinstance(message, _PLAIN) and self.add_type(cls):
            return self.encode(message)
        if isinstance(message, _PLAIN):
            try:
                data = json.dumps(message, separators=(",", ":")).encode()
            except (TypeError, ValueError) as exc:
                raise UnserializableMessageError(
                    f"cannot serialize message of type {_qualified_name(cls)}: {exc}"
                ) from exc
            return EncodedPayload(
                data=data,
                type_name=PLAIN_JSON_TYPE,
                data_content_type=JSON_DATA_CONTENT_TYPE,
                python_type=_qualified_name(cls),
            )
        raise UnserializableMessageError(
            f"cannot serialize message of type {_qualified_name(cls)}: it is not a dataclass, "
            "pydantic model, protobuf message or JSON value, and no serializer was added "
            "with add_message_serializer()"
        )

    def _content_types(self, type_name: str) -> list[str]:
        cached = self._content_type_cache.get(type_name)
        if cached is not None:
            return cached
        # Prefer what AutoGen registered for this name: JSON first, then protobuf.
        registered = [
            ct
            for (name, ct) in self.registry._serializers  # pyright: ignore[reportPrivateUsage]
            if name == type_name
        ]
        registered.sort(key=lambda ct: ct != JSON_DATA_CONTENT_TYPE)
        if registered:  # unknown names stay uncached: add_type() may register them next
            self._content_type_cache[type_name] = registered
        return registered

    def decode(
        self, data: bytes, *, type_name: str, data_content_type: str, python_type: str | None
    ) -> Any:
        """Deserialize a payload; an unknown type gives AutoGen's ``UnknownPayload``."""
        if type_name == PLAIN_JSON_TYPE:
            value = json.loads(data)
            return tuple(value) if python_type == "builtins:tuple" else value
        if not self.registry.is_registered(type_name, data_content_type) and python_type:
            cls = _find_loaded_type(python_type)
            if cls is not None:
                self.add_type(cls)
        result = self.registry.deserialize(
            data, type_name=type_name, data_content_type=data_content_type
        )
        return result

    @staticmethod
    def is_unknown(value: Any) -> bool:
        """Whether ``decode`` could not find a serializer."""
        return isinstance(value, UnknownPayload)
