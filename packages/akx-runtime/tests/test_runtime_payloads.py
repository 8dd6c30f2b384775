"""PayloadCodec: AutoGen's serializers, the JSON fallback and types found by name."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import pytest
from autogen_core import JSON_DATA_CONTENT_TYPE
from google.protobuf.wrappers_pb2 import StringValue
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from akx_runtime import UnserializableMessageError
from akx_runtime._payloads import PLAIN_JSON_TYPE, EncodedPayload, PayloadCodec


@dataclass
class Point:
    x: int
    y: int


class Reading(BaseModel):
    sensor: str
    value: float


class Opaque:
    pass


def round_trip(
    message: Any, *, sender: PayloadCodec | None = None, receiver: PayloadCodec | None = None
) -> Any:
    encoded = (sender or PayloadCodec()).encode(message)
    return (receiver or PayloadCodec()).decode(
        encoded.data,
        type_name=encoded.type_name,
        data_content_type=encoded.data_content_type,
        python_type=encoded.python_type,
    )


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@given(value=JSON_VALUES)
def test_plain_json_values_round_trip_between_codecs(value: Any) -> None:
    encoded = PayloadCodec().encode(value)
    assert encoded.type_name == PLAIN_JSON_TYPE
    assert encoded.data_content_type == JSON_DATA_CONTENT_TYPE
    decoded = round_trip(value)
    assert decoded == value
    assert type(decoded) is type(value)


def test_top_level_tuples_come_back_as_tuples() -> None:
    assert round_trip((1, "a", None)) == (1, "a", None)
    assert type(round_trip((1, 2))) is tuple
    # Only the top level: JSON has no tuples, nested ones come back as lists.
    assert round_trip([(1, 2)]) == [[1, 2]]


@pytest.mark.parametrize(
    "message",
    [Point(1, 2), Reading(sensor="t1", value=21.5), StringValue(value="protobuf")],
    ids=["dataclass", "pydantic", "protobuf"],
)
def test_autogen_message_types_are_found_by_the_receiver(message: Any) -> None:
    # The receiver never registered the type: it is found by its qualified name
    # because its module is already imported here.
    receiver = PayloadCodec()
    decoded = round_trip(message, receiver=receiver)
    assert type(decoded) is type(message)
    assert decoded == message
    encoded = PayloadCodec().encode(message)
    assert encoded.python_type == f"{type(message).__module__}:{type(message).__qualname__}"


def test_protobuf_uses_the_protobuf_content_type() -> None:
    encoded = PayloadCodec().encode(StringValue(value="x"))
    assert encoded.type_name == "google.protobuf.StringValue"
    assert encoded.data_content_type == "application/x-protobuf"


def test_registered_serializers_win_over_the_json_fallback() -> None:
    codec = PayloadCodec()
    assert codec.add_type(Point)
    assert not codec.add_type(Opaque)
    encoded = codec.encode(Point(3, 4))
    assert encoded.type_name == "Point"
    assert json.loads(encoded.data) == {"x": 3, "y": 4}


@pytest.mark.parametrize(
    ("message", "named"),
    [
        (Opaque(), "Opaque"),
        ({"a": {1, 2}}, "builtins:dict"),
        ([Opaque()], "builtins:list"),
        (object(), "builtins:object"),
    ],
    ids=["plain class", "set inside dict", "object inside list", "object"],
)
def test_unserializable_messages_name_their_type(message: Any, named: str) -> None:
    with pytest.raises(UnserializableMessageError, match=named) as caught:
        PayloadCodec().encode(message)
    assert isinstance(caught.value, TypeError)


def test_unknown_types_decode_to_unknown_payload() -> None:
    codec = PayloadCodec()
    encoded = EncodedPayload(
        data=b'{"x": 1}',
        type_name="NeverHeardOf",
        data_content_type=JSON_DATA_CONTENT_TYPE,
        python_type="akx_module_nobody_imported:NeverHeardOf",
    )
    decoded = codec.decode(
        encoded.data,
        type_name=encoded.type_name,
        data_content_type=encoded.data_content_type,
        python_type=encoded.python_type,
    )
    assert PayloadCodec.is_unknown(decoded)
    assert not PayloadCodec.is_unknown({"x": 1})


def test_a_qualified_name_never_imports_a_module() -> None:
    import sys

    assert "antigravity" not in sys.modules
    decoded = PayloadCodec().decode(
        b"{}",
        type_name="Fly",
        data_content_type=JSON_DATA_CONTENT_TYPE,
        python_type="antigravity:Fly",
    )
    assert PayloadCodec.is_unknown(decoded)
    assert "antigravity" not in sys.modules


def test_floats_keep_their_value() -> None:
    assert round_trip(0.1) == 0.1
    assert math.isclose(round_trip(1e300), 1e300)
