"""Dataclass -> Avro schema -> record, and DataclassSerde."""

from __future__ import annotations

import dataclasses
import enum
import io
import itertools
import json
import uuid
from datetime import datetime, timezone
from typing import Any, Literal, Optional, Union

import avro.schema
import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from akx_events import (
    EVENT_TYPES,
    DataclassSerde,
    EventEncodeError,
    PayloadTooLargeError,
    SchemaRegistryConfig,
    UnknownSchemaError,
    UnsupportedTypeError,
    avro_schema_for,
    event_schema,
    from_avro_record,
    to_avro_record,
)


class Color(enum.Enum):
    RED = "r"
    GREEN = "g"


class Size(enum.IntEnum):
    SMALL = 1
    LARGE = 2


@dataclasses.dataclass(frozen=True)
class Point:
    x: float
    y: float


@dataclasses.dataclass(frozen=True)
class Everything:
    text: str
    number: int
    ratio: float
    flag: bool
    blob: bytes
    moment: datetime
    color: Color
    mode: Literal["fast", "slow"]
    point: Point
    points: list[Point]
    tags: tuple[str, ...]
    by_name: dict[str, Point]
    maybe: Optional[int] = None  # noqa: UP045 - the typing spelling must work too
    other: Union[str, None] = None  # noqa: UP007
    colors: dict[str, Color] = dataclasses.field(default_factory=dict[str, Color])
    label: str = "none"
    raw: bytes = b"\x00\xff"
    size: Size = Size.LARGE
    when: datetime = datetime(2020, 1, 1, tzinfo=timezone.utc)
    counted: int | None = 3


@dataclasses.dataclass
class Tree:
    name: str
    children: list[Tree] = dataclasses.field(default_factory=list[Any])


@dataclasses.dataclass(slots=True)
class Slotted:
    a: int
    b: list[Color]


@dataclasses.dataclass
class WithDerived:
    a: int
    doubled: int = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.doubled = self.a * 2


def test_schema_follows_the_documented_mapping() -> None:
    schema = avro_schema_for(Everything, namespace="test.ns")
    fields = {f["name"]: f for f in schema["fields"]}

    assert schema["name"] == "Everything"
    assert schema["namespace"] == "test.ns"
    assert fields["text"]["type"] == "string"
    assert fields["number"]["type"] == "long"
    assert fields["ratio"]["type"] == "double"
    assert fields["flag"]["type"] == "boolean"
    assert fields["blob"]["type"] == "bytes"
    assert fields["moment"]["type"] == {"type": "long", "logicalType": "timestamp-micros"}
    assert fields["color"]["type"]["symbols"] == ["RED", "GREEN"]
    assert fields["mode"]["type"]["name"] == "EverythingMode"
    assert fields["mode"]["type"]["symbols"] == ["fast", "slow"]
    assert fields["point"]["type"]["type"] == "record"
    assert fields["points"]["type"] == {"type": "array", "items": "test.ns.Point"}
    assert fields["tags"]["type"] == {"type": "array", "items": "string"}
    assert fields["by_name"]["type"] == {"type": "map", "values": "test.ns.Point"}
    assert fields["maybe"] == {"name": "maybe", "type": ["null", "long"], "default": None}
    assert fields["other"]["type"] == ["null", "string"]
    assert fields["colors"]["default"] == {}
    assert fields["label"]["default"] == "none"
    assert fields["raw"]["default"] == "\u0000\u00ff"
    assert fields["size"]["default"] == "LARGE"
    assert fields["when"]["default"] == 1577836800000000
    assert fields["counted"] == {"name": "counted", "type": ["long", "null"], "default": 3}
    # Valid for the reference implementation and for fastavro.
    avro.schema.parse(json.dumps(schema))
    fastavro.parse_schema(schema)


def test_namespace_defaults_to_the_module_made_avro_safe() -> None:
    expected = ".".join(part.replace("-", "_") for part in Point.__module__.split("."))

    assert avro_schema_for(Point)["namespace"] == expected


def test_an_invalid_explicit_namespace_is_refused() -> None:
    with pytest.raises(UnsupportedTypeError, match="not a valid Avro name"):
        avro_schema_for(Point, namespace="my-namespace")


def sample_everything() -> Everything:
    return Everything(
        text="héllo",
        number=-(2**63),
        ratio=0.5,
        flag=True,
        blob=b"\x00\x01",
        moment=datetime(1, 1, 1, tzinfo=timezone.utc),
        color=Color.GREEN,
        mode="slow",
        point=Point(x=1.0, y=-2.5),
        points=[Point(x=0.0, y=0.0)],
        tags=("a", "b"),
        by_name={"p": Point(x=3.0, y=4.0)},
        maybe=7,
        colors={"c": Color.RED},
    )


def roundtrip(obj: Any, schema: dict[str, Any]) -> Any:
    parsed = fastavro.parse_schema(schema)
    stream = io.BytesIO()
    fastavro.schemaless_writer(stream, parsed, to_avro_record(obj))
    stream.seek(0)
    return from_avro_record(type(obj), fastavro.schemaless_reader(stream, parsed, None))  # pyright: ignore[reportArgumentType]


def test_every_supported_type_round_trips() -> None:
    original = sample_everything()

    assert roundtrip(original, avro_schema_for(Everything)) == original


def test_recursive_dataclasses_round_trip() -> None:
    tree = Tree(name="root", children=[Tree(name="a", children=[Tree(name="b")]), Tree(name="c")])
    schema = avro_schema_for(Tree)

    assert schema["fields"][1]["type"]["items"] == f"{schema['namespace']}.Tree"
    assert roundtrip(tree, schema) == tree


def test_slotted_dataclasses_round_trip() -> None:
    value = Slotted(a=1, b=[Color.RED, Color.GREEN])

    assert roundtrip(value, avro_schema_for(Slotted)) == value


def test_fields_computed_in_post_init_are_not_data() -> None:
    schema = avro_schema_for(WithDerived)

    assert [f["name"] for f in schema["fields"]] == ["a"]
    assert roundtrip(WithDerived(a=4), schema).doubled == 8


def test_from_avro_record_does_not_modify_its_input() -> None:
    record = to_avro_record(sample_everything())
    snapshot = json.dumps(record, default=repr, sort_keys=True)

    from_avro_record(Everything, record)

    assert json.dumps(record, default=repr, sort_keys=True) == snapshot


def test_naive_datetimes_are_refused() -> None:
    value = dataclasses.replace(sample_everything(), moment=datetime(2020, 1, 1))

    with pytest.raises(EventEncodeError, match="naive"):
        to_avro_record(value)


@dataclasses.dataclass
class BadSet:
    items: set[int]


@dataclasses.dataclass
class BadKey:
    by_id: dict[int, str]


@dataclasses.dataclass
class BadUnion:
    value: int | str


@dataclasses.dataclass
class BadAny:
    value: Any


@dataclasses.dataclass
class BadLiteral:
    value: Literal[1, 2]


@dataclasses.dataclass
class BadNested:
    inner: BadSet


@pytest.mark.parametrize(
    ("cls", "where"),
    [
        (BadSet, "BadSet.items"),
        (BadKey, "BadKey.by_id"),
        (BadUnion, "BadUnion.value"),
        (BadAny, "BadAny.value"),
        (BadLiteral, "BadLiteral.value"),
        (BadNested, "BadSet.items"),
    ],
)
def test_unsupported_field_types_name_the_class_and_field(cls: type[Any], where: str) -> None:
    with pytest.raises(UnsupportedTypeError) as caught:
        avro_schema_for(cls)

    assert caught.value.field == where
    assert where in str(caught.value)


def test_a_plain_class_is_not_a_dataclass() -> None:
    with pytest.raises(UnsupportedTypeError, match="not a dataclass"):
        avro_schema_for(Color)


def test_shipped_event_schemas_are_the_dataclasses() -> None:
    def without_docs(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: without_docs(v) for k, v in node.items() if k != "doc"}  # pyright: ignore[reportUnknownVariableType]
        if isinstance(node, list):
            return [without_docs(v) for v in node]  # pyright: ignore[reportUnknownVariableType]
        return node

    for cls in EVENT_TYPES:
        assert without_docs(event_schema(cls)) == avro_schema_for(cls, namespace="io.akx.events")


# --- generated shapes -------------------------------------------------------------------

_names = (f"Shape{n}" for n in itertools.count())
_leaves: list[tuple[Any, st.SearchStrategy[Any]]] = [
    (str, st.text(max_size=10)),
    (int, st.integers(min_value=-(2**63), max_value=2**63 - 1)),
    (float, st.floats(allow_nan=False)),
    (bool, st.booleans()),
    (bytes, st.binary(max_size=10)),
    (datetime, st.datetimes(timezones=st.just(timezone.utc))),
    (Color, st.sampled_from(Color)),
    (Literal["x", "y"], st.sampled_from(["x", "y"])),
]
Shape = tuple[Any, st.SearchStrategy[Any]]


def _wrap(inner: st.SearchStrategy[Shape]) -> st.SearchStrategy[Shape]:
    def optional(s: Shape) -> Shape:
        return Optional[s[0]], st.none() | s[1]  # noqa: UP045

    def listed(s: Shape) -> Shape:
        return list[s[0]], st.lists(s[1], max_size=3)

    def tupled(s: Shape) -> Shape:
        return tuple[s[0], ...], st.lists(s[1], max_size=3).map(tuple)

    def mapped(s: Shape) -> Shape:
        return dict[str, s[0]], st.dictionaries(st.text(max_size=5), s[1], max_size=3)

    return st.one_of(
        inner.map(optional),
        inner.map(listed),
        inner.map(tupled),
        inner.map(mapped),
        st.lists(inner, min_size=0, max_size=4).map(_record),
    )


def _record(fields: list[Shape]) -> Shape:
    cls = dataclasses.make_dataclass(
        next(_names), [(f"f{i}", tp) for i, (tp, _) in enumerate(fields)], frozen=True
    )
    values = {f"f{i}": strategy for i, (_, strategy) in enumerate(fields)}
    return cls, st.builds(cls, **values)


field_shapes: st.SearchStrategy[Shape] = st.recursive(st.sampled_from(_leaves), _wrap, max_leaves=8)
shapes = st.lists(field_shapes, max_size=5).map(_record)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(shape=shapes, data=st.data())
def test_generated_dataclasses_round_trip(shape: Shape, data: st.DataObject) -> None:
    cls, values = shape
    obj = data.draw(values)
    schema = avro_schema_for(cls)

    avro.schema.parse(json.dumps(schema))
    assert roundtrip(obj, schema) == obj


# --- DataclassSerde ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Query:
    question: str
    limit: int = 10


def registry() -> SchemaRegistryConfig:
    return SchemaRegistryConfig(url=f"mock://dataclass-{uuid.uuid4().hex}")


def test_dataclass_serde_round_trips_in_wire_format() -> None:
    serde = DataclassSerde(Query, registry())
    serde.prepare_sync()

    value = serde.encode(Query(question="why?"), topic="questions")

    assert value[:1] == b"\x00"
    assert int.from_bytes(value[1:5], "big") == serde.schema_id
    assert serde.subject == f"{serde.schema['namespace']}.Query"
    assert serde.decode(value) == Query(question="why?")


async def test_dataclass_serde_async_lifecycle() -> None:
    serde = DataclassSerde(Query, registry(), subject="questions-value", namespace="io.example")
    await serde.prepare()

    value = serde.encode(Query(question="q", limit=1))

    assert serde.subject == "questions-value"
    assert serde.schema["namespace"] == "io.example"
    assert await serde.decode_async(value) == Query(question="q", limit=1)


async def test_dataclass_serde_reads_an_older_writer_schema() -> None:
    config = registry()
    older = {
        "type": "record",
        "name": "Query",
        "namespace": avro_schema_for(Query)["namespace"],
        "fields": [{"name": "question", "type": "string"}],
    }
    old_serde = _raw_writer(config, older)
    value = old_serde({"question": "old"})
    serde = DataclassSerde(Query, config)
    serde.prepare_sync()

    with pytest.raises(UnknownSchemaError):
        serde.decode(value)
    assert await serde.decode_async(value) == Query(question="old", limit=10)
    assert serde.decode(value) == Query(question="old", limit=10)


def _raw_writer(config: SchemaRegistryConfig, schema: dict[str, Any]) -> Any:
    from confluent_kafka.schema_registry import Schema

    from akx_events import create_registry_client

    client = create_registry_client(config)
    schema_id = client.register_schema("other-subject", Schema(json.dumps(schema), "AVRO"))
    parsed = fastavro.parse_schema(schema)

    def write(record: dict[str, Any]) -> bytes:
        stream = io.BytesIO()
        stream.write(b"\x00" + schema_id.to_bytes(4, "big"))
        fastavro.schemaless_writer(stream, parsed, record)
        return stream.getvalue()

    return write


def test_dataclass_serde_refuses_other_types_and_oversized_values() -> None:
    serde = DataclassSerde(Query, registry(), max_payload_bytes=50)
    serde.prepare_sync()

    with pytest.raises(EventEncodeError, match="expected Query"):
        serde.encode(Point(x=1, y=2))  # pyright: ignore[reportArgumentType]
    with pytest.raises(PayloadTooLargeError, match="over the limit of 50 bytes"):
        serde.encode(Query(question="x" * 100), topic="t")


def test_dataclass_serde_before_prepare_says_so() -> None:
    serde = DataclassSerde(Query, registry())

    with pytest.raises(EventEncodeError, match=r"prepare\(\)"):
        serde.encode(Query(question="q"))
    with pytest.raises(UnknownSchemaError, match=r"prepare\(\)"):
        serde.decode(b"\x00\x00\x00\x00\x01\x02")


def test_dataclass_serde_rejects_unsupported_dataclasses_up_front() -> None:
    with pytest.raises(UnsupportedTypeError, match=r"BadSet\.items"):
        DataclassSerde(BadSet, registry())
