"""``MemoryContent`` to the fields of a ``MemoryEvent`` and back, exactly.

A ``MemoryEvent`` carries the content as bytes, its MIME type as a string and the
metadata as a JSON object. That alone cannot say whether ``b"hi"`` was ``str`` or
``bytes`` content, or whether the MIME type was ``MemoryMimeType.TEXT`` or the
plain string ``"text/plain"``; the record therefore also carries a small
``akx-memory-form`` header, ``<kind>/<enum|str>``. Records written without it (by
other tools) are read by the usual mapping of their MIME type.

Only values that come back equal are accepted: JSON content and metadata must be
made of ``dict`` (string keys), ``list``, ``str``, ``int``, finite ``float``,
``bool`` and ``None``. Anything else raises :class:`UnsupportedContentError`
instead of being changed silently (a tuple would come back as a list, a datetime
not at all).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any, Literal, cast

from autogen_core import Image
from autogen_core.memory import MemoryContent, MemoryMimeType

from akx_events.exceptions import EventDecodeError

from .exceptions import UnsupportedContentError

__all__ = ["FORM_HEADER", "EncodedContent", "decode_content", "encode_content"]

#: Record header saying which Python type the content had and how its MIME type was given.
FORM_HEADER = "akx-memory-form"

ContentKind = Literal["text", "json", "image", "bytes"]

_ENUM_BY_VALUE = {member.value: member for member in MemoryMimeType}
_KINDS: frozenset[str] = frozenset({"text", "json", "image", "bytes"})
_SCALARS = (str, int, bool, type(None))


@dataclass(frozen=True, slots=True)
class EncodedContent:
    """The ``MemoryEvent`` fields (and form header) that represent one ``MemoryContent``.

    Attributes:
        data: the content as bytes (UTF-8 text, compact JSON, PNG, or the bytes).
        mime_type: the MIME type as a string.
        metadata_json: the metadata as a JSON object, ``None`` when it was ``None``.
        form: value of the ``akx-memory-form`` header.
    """

    data: bytes
    mime_type: str
    metadata_json: str | None
    form: bytes


def _check_json(value: Any, path: str) -> None:
    kind = cast("type[Any]", type(value))
    if kind in _SCALARS:
        return
    if kind is float:
        if not math.isfinite(value):
            raise UnsupportedContentError(path, "float", f"{value!r} is not valid JSON")
        return
    if kind is list:
        for i, item in enumerate(cast("list[Any]", value)):
            _check_json(item, f"{path}[{i}]")
        return
    if kind is dict:
        for key, item in cast("dict[Any, Any]", value).items():
            if type(key) is not str:
                raise UnsupportedContentError(
                    f"{path} key {key!r}", type(key).__name__, "JSON object keys must be str"
                )
            _check_json(item, f"{path}[{key!r}]")
        return
    raise UnsupportedContentError(
        path,
        kind.__name__,
        "only dict (str keys), list, str, int, finite float, bool and None round-trip "
        "through JSON exactly",
    )


def _dump_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _content_bytes(content: Any) -> tuple[ContentKind, bytes]:
    # bytes before str checks: bool/int subclasses are rejected below anyway.
    if type(content) is str:
        return "text", content.encode("utf-8", "surrogatepass")
    if type(content) is bytes:
        return "bytes", content
    if type(content) is dict:
        _check_json(content, "content")
        return "json", _dump_json(content).encode("utf-8", "surrogatepass")
    if isinstance(content, Image):
        return "image", base64.b64decode(content.to_base64())
    raise UnsupportedContentError(
        "content",
        type(content).__name__,
        "MemoryContent.content must be str, bytes, dict or autogen_core.Image",
    )


def encode_content(content: MemoryContent) -> EncodedContent:
    """The event fields for ``content``.

    Raises:
        UnsupportedContentError: the content, its MIME type or its metadata holds a
            value that would not come back equal.
    """
    kind, data = _content_bytes(content.content)
    mime = content.mime_type
    if isinstance(mime, MemoryMimeType):
        mime_text, how = mime.value, "enum"
    elif type(mime) is str:
        mime_text, how = mime, "str"
    else:
        raise UnsupportedContentError(
            "mime_type", type(mime).__name__, "must be a MemoryMimeType or a str"
        )
    metadata = content.metadata
    if metadata is None:
        metadata_json = None
    else:
        if type(metadata) is not dict:
            raise UnsupportedContentError(
                "metadata", type(metadata).__name__, "metadata must be a dict or None"
            )
        _check_json(metadata, "metadata")
        metadata_json = _dump_json(metadata)
    return EncodedContent(
        data=data, mime_type=mime_text, metadata_json=metadata_json, form=f"{kind}/{how}".encode()
    )


def _default_kind(mime_type: str) -> ContentKind:
    if mime_type == MemoryMimeType.JSON.value:
        return "json"
    if mime_type.startswith("image/"):
        return "image"
    if mime_type.startswith("text/"):
        return "text"
    return "bytes"


def _read_form(mime_type: str, form: bytes | None) -> tuple[str, bool]:
    if form is None:
        return _default_kind(mime_type), mime_type in _ENUM_BY_VALUE
    kind, _, how = form.decode("ascii", "replace").partition("/")
    if kind not in _KINDS or how not in ("enum", "str"):
        raise EventDecodeError(f"bad {FORM_HEADER} header {form!r}")
    if how == "enum" and mime_type not in _ENUM_BY_VALUE:
        raise EventDecodeError(f"{mime_type!r} is not a MemoryMimeType value")
    return kind, how == "enum"


def _content_value(kind: str, data: bytes) -> Any:
    if kind == "bytes":
        return data
    if kind == "image":
        return Image.from_base64(base64.b64encode(data).decode("ascii"))
    text = data.decode("utf-8", "surrogatepass")
    if kind == "text":
        return text
    value: Any = json.loads(text)
    if type(value) is not dict:
        raise EventDecodeError(f"JSON content is a {type(value).__name__}, not an object")
    return cast("dict[str, Any]", value)


def decode_content(
    data: bytes, mime_type: str, metadata_json: str | None, form: bytes | None
) -> MemoryContent:
    """The ``MemoryContent`` that :func:`encode_content` turned into these fields.

    Raises:
        EventDecodeError: the fields do not make a valid ``MemoryContent`` (bad UTF-8,
            JSON, image data or form header).
    """
    kind, is_enum = _read_form(mime_type, form)
    try:
        value = _content_value(kind, data)
        metadata: Any = None if metadata_json is None else json.loads(metadata_json)
    except EventDecodeError:
        raise
    except (ValueError, OSError, binascii.Error) as exc:  # JSON, UTF-8, PIL errors
        raise EventDecodeError(f"{kind} content cannot be read: {exc}") from exc
    if metadata is not None and type(metadata) is not dict:
        raise EventDecodeError(f"metadata is a {type(metadata).__name__}, not a JSON object")
    mime: MemoryMimeType | str = _ENUM_BY_VALUE[mime_type] if is_enum else mime_type
    return MemoryContent(
        content=value, mime_type=mime, metadata=cast("dict[str, Any] | None", metadata)
    )
