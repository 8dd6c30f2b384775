"""MemoryContent <-> MemoryEvent fields: exact round trips and clear errors."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from autogen_core import Image
from autogen_core.memory import MemoryContent, MemoryMimeType
from PIL import Image as PILImage

from akx_events.exceptions import EventDecodeError
from akx_memory import UnsupportedContentError, decode_content, encode_content


def exact(content: MemoryContent) -> tuple[Any, ...]:
    """What must survive a round trip: types, values, key order, float signs."""
    value = content.content
    shown = value.to_base64() if isinstance(value, Image) else repr(value)
    mime = content.mime_type
    return (type(value), shown, type(mime), repr(mime), repr(content.metadata))


def round_trip(content: MemoryContent) -> MemoryContent:
    encoded = encode_content(content)
    return decode_content(encoded.data, encoded.mime_type, encoded.metadata_json, encoded.form)


@pytest.mark.parametrize(
    ("content", "mime"),
    [
        ("plain", MemoryMimeType.TEXT),
        ("# title", MemoryMimeType.MARKDOWN),
        ({"a": [1, 2.5, None, True], "b": {"c": "d"}}, MemoryMimeType.JSON),
        (b"\x00\xffbinary", MemoryMimeType.BINARY),
        (Image(PILImage.new("RGB", (3, 2), (10, 20, 30))), MemoryMimeType.IMAGE),
    ],
)
def test_each_autogen_mime_type_round_trips(content: Any, mime: MemoryMimeType) -> None:
    original = MemoryContent(content=content, mime_type=mime, metadata={"k": [1, "x"]})
    assert exact(round_trip(original)) == exact(original)


def test_metadata_none_stays_none_and_empty_stays_empty() -> None:
    none = round_trip(MemoryContent(content="x", mime_type=MemoryMimeType.TEXT))
    empty = round_trip(MemoryContent(content="x", mime_type=MemoryMimeType.TEXT, metadata={}))
    assert none.metadata is None
    assert empty.metadata == {}


def test_a_plain_string_mime_type_is_not_turned_into_the_enum() -> None:
    copy = round_trip(MemoryContent(content="x", mime_type="text/plain"))
    assert copy.mime_type == "text/plain"
    assert not isinstance(copy.mime_type, MemoryMimeType)


@pytest.mark.parametrize(
    ("metadata", "path", "type_name"),
    [
        ({"when": datetime.date(2025, 1, 1)}, "metadata['when']", "date"),
        ({"tags": ("a", "b")}, "metadata['tags']", "tuple"),
        ({"n": float("nan")}, "metadata['n']", "float"),
        ({"deep": [{"x": {1, 2}}]}, "metadata['deep'][0]['x']", "set"),
        ({"d": {1: "int key"}}, "metadata['d'] key 1", "int"),
    ],
)
def test_metadata_that_would_not_come_back_equal_is_refused(
    metadata: dict[Any, Any], path: str, type_name: str
) -> None:
    content = MemoryContent(content="x", mime_type=MemoryMimeType.TEXT, metadata=metadata)
    with pytest.raises(UnsupportedContentError) as info:
        encode_content(content)
    assert info.value.path == path
    assert info.value.value_type == type_name
    assert type_name in str(info.value)
    assert isinstance(info.value, TypeError)


def test_unsupported_content_type_names_the_type() -> None:
    content = MemoryContent.model_construct(content=[1, 2], mime_type="text/plain")
    with pytest.raises(UnsupportedContentError, match="list"):
        encode_content(content)


def test_json_content_with_a_tuple_is_refused() -> None:
    content = MemoryContent(content={"a": (1, 2)}, mime_type=MemoryMimeType.JSON)
    with pytest.raises(UnsupportedContentError, match=r"content\['a'\]"):
        encode_content(content)


def test_records_of_other_writers_are_read_by_their_mime_type() -> None:
    text = decode_content(b"hi", "text/markdown", None, None)
    data = decode_content(b'{"a": 1}', "application/json", '{"m": 2}', None)
    raw = decode_content(b"\x01", "application/x-custom", None, None)
    assert (text.content, text.mime_type) == ("hi", MemoryMimeType.MARKDOWN)
    assert (data.content, data.metadata) == ({"a": 1}, {"m": 2})
    assert (raw.content, raw.mime_type) == (b"\x01", "application/x-custom")


@pytest.mark.parametrize(
    ("data", "mime", "metadata_json", "form"),
    [
        (b"\xff\xfe", "text/plain", None, b"text/enum"),
        (b"[1, 2]", "application/json", None, b"json/enum"),
        (b"{not json", "application/json", None, b"json/enum"),
        (b"not a png", "image/*", None, b"image/enum"),
        (b"x", "text/plain", "[1]", b"text/enum"),
        (b"x", "text/plain", "{bad", b"text/enum"),
        (b"x", "text/plain", None, b"nonsense"),
        (b"x", "text/x-other", None, b"text/enum"),
    ],
)
def test_bad_fields_raise_decode_errors(
    data: bytes, mime: str, metadata_json: str | None, form: bytes
) -> None:
    with pytest.raises(EventDecodeError):
        decode_content(data, mime, metadata_json, form)
