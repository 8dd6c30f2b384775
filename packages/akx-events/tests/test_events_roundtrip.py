"""EventSerde round trips: every event type, CloudEvents headers, sizes, misuse."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from akx_events import (
    EVENT_TYPES,
    AgentRef,
    AgentStateEvent,
    AnyEvent,
    ErrorInfo,
    EventEncodeError,
    EventSerde,
    InvalidEventError,
    MemoryEvent,
    PayloadTooLargeError,
    RegistrationEvent,
    RequestEvent,
    RequestKind,
    ResponseEvent,
    SchemaRegistryConfig,
    SubscriptionEvent,
    UnknownSchemaError,
)

TOPIC = "akx.test"

# --- strategies -----------------------------------------------------------------------

texts = st.text(max_size=40)
ids = st.text(min_size=1, max_size=40)
payloads = st.one_of(st.just(b""), st.binary(max_size=2048))
metadata = st.dictionaries(texts, texts, max_size=30)
offsets = st.integers(min_value=-23 * 60, max_value=23 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
# The whole datetime range (years 1 to 9999) at microsecond precision, in UTC and at
# fixed offsets that stay representable in UTC.
times = st.one_of(
    st.datetimes(timezones=st.just(timezone.utc)),
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=offsets),
    st.sampled_from(
        [
            datetime.min.replace(tzinfo=timezone.utc),
            datetime.max.replace(tzinfo=timezone.utc),
            datetime(1970, 1, 1, tzinfo=timezone.utc),
        ]
    ),
)
agents = st.builds(AgentRef, type=texts, key=texts)
errors = st.builds(
    ErrorInfo, exception_type=texts, message=texts, traceback=st.none() | st.text(max_size=500)
)


@st.composite
def requests(draw: st.DrawFn) -> RequestEvent:
    kind: RequestKind = draw(st.sampled_from(["rpc_request", "publish"]))
    recipient = draw(agents) if kind == "rpc_request" else draw(st.none() | agents)
    return RequestEvent(
        message_id=draw(ids),
        kind=kind,
        payload=draw(payloads),
        type_name=draw(texts),
        recipient=recipient,
        sender=draw(st.none() | agents),
        reply_to=draw(st.none() | texts),
        topic_type=draw(st.none() | texts),
        topic_source=draw(st.none() | texts),
        data_content_type=draw(st.sampled_from(["application/json", "application/x-protobuf"])),
        time=draw(times),
        metadata=draw(metadata),
    )


responses = st.builds(
    ResponseEvent,
    message_id=ids,
    sender=agents,
    recipient=st.none() | agents,
    payload=payloads,
    type_name=texts,
    data_content_type=texts,
    error=st.none() | errors,
    time=times,
    metadata=metadata,
)
registrations = st.builds(
    RegistrationEvent,
    agent_type=texts,
    worker_id=texts,
    action=st.sampled_from(["register", "unregister"]),
    time=times,
    metadata=metadata,
)
subscriptions = st.builds(
    SubscriptionEvent,
    subscription_id=texts,
    kind=st.sampled_from(["type", "type_prefix", "custom"]),
    topic_type=texts,
    agent_type=texts,
    worker_id=texts,
    action=st.sampled_from(["add", "remove"]),
    payload=st.none() | payloads,
    type_name=st.none() | texts,
    time=times,
)
memories = st.builds(
    MemoryEvent,
    session_id=texts,
    action=st.sampled_from(["add", "update", "delete", "clear"]),
    memory_id=st.none() | texts,
    content=payloads,
    mime_type=texts,
    metadata_json=st.none() | texts,
    source=texts,
    time=times,
)
states = st.builds(
    AgentStateEvent,
    agent=agents,
    state=payloads,
    version=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    deleted=st.booleans(),
    time=times,
)
any_event: st.SearchStrategy[AnyEvent] = st.one_of(
    requests(), responses, registrations, subscriptions, memories, states
)


class _Identity:
    """cloudevents Format leaving the data alone: only the attributes are checked."""

    def write_data(self, data: Any, datacontenttype: str | None) -> bytes:
        return data

    def read_data(self, body: bytes, datacontenttype: str | None) -> Any:
        return body


@pytest.fixture(scope="module")
def serde() -> Iterator[EventSerde]:
    serde = EventSerde(
        SchemaRegistryConfig(url=f"mock://roundtrip-{uuid.uuid4().hex}"), source="akx://test"
    )
    serde.prepare_sync()
    yield serde
    serde.close()


def sample_request(**changes: Any) -> RequestEvent:
    fields: dict[str, Any] = {
        "message_id": "m-1",
        "kind": "rpc_request",
        "payload": b'{"content": "hi"}',
        "type_name": "TextMessage",
        "recipient": AgentRef(type="assistant", key="default"),
        "sender": AgentRef(type="user", key="u1"),
        "reply_to": "akx.responses.w1",
        "time": datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.utc),
    }
    fields.update(changes)
    return RequestEvent(**fields)


# --- round trips ------------------------------------------------------------------------


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(event=any_event)
def test_every_event_survives_encode_then_decode(serde: EventSerde, event: AnyEvent) -> None:
    value, headers = serde.encode(event, topic=TOPIC)

    decoded = serde.decode(value, headers)

    assert decoded == event
    assert type(decoded) is type(event)
    assert decoded.time.tzinfo is timezone.utc


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(event=any_event)
def test_headers_are_a_valid_cloudevent_for_the_sdk(serde: EventSerde, event: AnyEvent) -> None:
    value, headers = serde.encode(event, topic=TOPIC)

    message = ce_kafka.KafkaMessage(headers=dict(headers), key=None, value=value)
    cloud_event = ce_kafka.from_binary(message, _Identity())  # pyright: ignore[reportArgumentType]

    assert cloud_event.get_specversion() == "1.0"
    assert cloud_event.get_type() == f"io.akx.events.{type(event).__name__}"
    assert cloud_event.get_source() == "akx://test"
    assert cloud_event.get_datacontenttype() == "application/avro"
    assert cloud_event.get_time() == event.time
    assert cloud_event.get_data() == value


def test_every_event_type_has_a_schema_id_after_prepare(serde: EventSerde) -> None:
    ids = {cls: serde.schema_id(cls) for cls in EVENT_TYPES}

    assert serde.prepared
    assert len(set(ids.values())) == len(EVENT_TYPES)


def test_value_is_confluent_wire_format(serde: EventSerde) -> None:
    value, _ = serde.encode(sample_request(), topic=TOPIC)

    assert value[0] == 0
    assert int.from_bytes(value[1:5], "big") == serde.schema_id(RequestEvent)


def test_request_headers_follow_the_binding_and_autogen_names(serde: EventSerde) -> None:
    event = sample_request()

    _, headers = serde.encode(event, topic=TOPIC)

    assert headers == [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"m-1"),
        ("ce_source", b"akx://test"),
        ("ce_type", b"io.akx.events.RequestEvent"),
        ("ce_time", b"2025-03-01T12:00:00.123456Z"),
        ("content-type", b"application/avro"),
        ("ce_agmsgkind", b"rpc_request"),
        ("ce_agagentsendertype", b"user"),
        ("ce_agagentsenderkey", b"u1"),
    ]


def test_response_kind_tells_results_from_errors(serde: EventSerde) -> None:
    ok = ResponseEvent(message_id="m-1", sender=AgentRef(type="a", key="k"))
    failed = ResponseEvent(
        message_id="m-1",
        sender=AgentRef(type="a", key="k"),
        error=ErrorInfo.from_exception(ValueError("bad")),
    )

    _, ok_headers = serde.encode(ok, topic=TOPIC)
    _, failed_headers = serde.encode(failed, topic=TOPIC)

    assert ("ce_agmsgkind", b"rpc_response") in ok_headers
    assert ("ce_agmsgkind", b"error") in failed_headers
    assert ("ce_id", b"m-1:response") in ok_headers


def test_publish_without_sender_has_no_sender_headers(serde: EventSerde) -> None:
    event = sample_request(kind="publish", recipient=None, sender=None, reply_to=None)

    _, headers = serde.encode(event, topic=TOPIC)

    names = [name for name, _ in headers]
    assert ("ce_agmsgkind", b"publish") in headers
    assert "ce_agagentsendertype" not in names


def test_derived_ids_are_stable_for_the_same_event(serde: EventSerde) -> None:
    event = MemoryEvent(
        session_id="s", action="clear", time=datetime(2025, 1, 1, tzinfo=timezone.utc)
    )

    _, first = serde.encode(event, topic=TOPIC)
    _, second = serde.encode(event, topic=TOPIC)

    assert dict(first)["ce_id"] == dict(second)["ce_id"] == b"s/*/clear@2025-01-01T00:00:00+00:00"


def test_extra_headers_pass_through_and_are_exposed(serde: EventSerde) -> None:
    trace = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    extra = [("traceparent", trace), ("tracestate", b"k=v"), ("x-custom", b"\x00\xff")]

    value, headers = serde.encode(sample_request(), topic=TOPIC, extra_headers=extra)
    decoded = serde.decode_record(value, headers)

    assert headers[-3:] == extra
    assert decoded.event == sample_request()
    assert decoded.traceparent == trace.decode()
    assert decoded.tracestate == "k=v"
    assert decoded.header("x-custom") == b"\x00\xff"
    assert decoded.headers == tuple(extra)
    assert decoded.schema_id == serde.schema_id(RequestEvent)


def test_headers_may_come_as_a_mapping(serde: EventSerde) -> None:
    value, headers = serde.encode(
        sample_request(), topic=TOPIC, extra_headers=[("traceparent", b"tp")]
    )

    decoded = serde.decode_record(value, dict(headers))

    assert decoded.event == sample_request()
    assert decoded.headers == (("traceparent", b"tp"),)


async def test_decode_async_matches_decode_for_known_ids(serde: EventSerde) -> None:
    value, headers = serde.encode(sample_request(), topic=TOPIC)

    event = await serde.decode_async(value, headers)
    record = await serde.decode_record_async(value, headers)

    assert event == sample_request()
    assert record.event == event


def test_extra_header_cannot_replace_a_cloudevents_header(serde: EventSerde) -> None:
    with pytest.raises(EventEncodeError, match="ce_type"):
        serde.encode(sample_request(), topic=TOPIC, extra_headers=[("ce_type", b"evil")])


def test_large_map_and_payload_round_trip(serde: EventSerde) -> None:
    event = sample_request(
        metadata={f"key-{i}": "v" * (i % 50) for i in range(10_000)},
        payload=bytes(range(256)) * 1000,
    )

    value, headers = serde.encode(event, topic=TOPIC)

    assert serde.decode(value, headers) == event


# --- limits and misuse ------------------------------------------------------------------


def test_oversized_record_is_refused_before_producing() -> None:
    serde = EventSerde(SchemaRegistryConfig(url="mock://too-large"), max_payload_bytes=1_000)
    serde.prepare_sync()

    with pytest.raises(PayloadTooLargeError) as caught:
        serde.encode(sample_request(payload=b"x" * 2_000), topic="akx.requests")

    assert caught.value.limit == 1_000
    assert caught.value.size > 2_000
    assert "1000 bytes" in str(caught.value)
    assert str(caught.value.size) in str(caught.value)
    assert "akx.requests" in str(caught.value)


def test_headers_count_towards_the_size_limit() -> None:
    serde = EventSerde(SchemaRegistryConfig(url="mock://header-size"), max_payload_bytes=1_000)
    serde.prepare_sync()
    value, headers = serde.encode(sample_request(payload=b""), topic=TOPIC)
    room = 1_000 - len(value) - sum(len(k) + len(v) for k, v in headers) - len("x-pad")

    serde.encode(sample_request(payload=b""), topic=TOPIC, extra_headers=[("x-pad", b"p" * room)])
    with pytest.raises(PayloadTooLargeError):
        serde.encode(
            sample_request(payload=b""), topic=TOPIC, extra_headers=[("x-pad", b"p" * (room + 1))]
        )


def test_encode_and_decode_before_prepare_say_so() -> None:
    serde = EventSerde(SchemaRegistryConfig(url="mock://unprepared"))

    with pytest.raises(EventEncodeError, match=r"prepare\(\)"):
        serde.encode(sample_request(), topic=TOPIC)
    with pytest.raises(UnknownSchemaError, match=r"prepare\(\)"):
        serde.decode(b"\x00\x00\x00\x00\x01\x00", [])


def test_encoding_a_non_event_is_refused(serde: EventSerde) -> None:
    with pytest.raises(EventEncodeError, match="not an akx event"):
        serde.encode(AgentRef(type="a", key="b"), topic=TOPIC)  # pyright: ignore[reportArgumentType]


def test_a_value_that_does_not_fit_the_schema_is_an_encode_error(serde: EventSerde) -> None:
    event = sample_request(payload="not bytes")

    with pytest.raises(EventEncodeError, match="RequestEvent"):
        serde.encode(event, topic=TOPIC)


def test_naive_time_is_refused_when_the_event_is_built() -> None:
    with pytest.raises(InvalidEventError, match="timezone-aware"):
        sample_request(time=datetime(2025, 1, 1))


def test_rpc_request_needs_a_recipient() -> None:
    with pytest.raises(InvalidEventError, match="recipient"):
        sample_request(recipient=None)


def test_message_id_must_not_be_empty() -> None:
    with pytest.raises(InvalidEventError, match="message_id"):
        sample_request(message_id="")


def test_times_with_offsets_are_kept_as_the_same_instant_in_utc() -> None:
    local = datetime(2025, 6, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))

    event = sample_request(time=local)

    assert event.time == local
    assert event.time.tzinfo is timezone.utc
    assert event.time.hour == 12


def test_error_info_from_exception_names_the_type_and_keeps_the_traceback() -> None:
    try:
        raise KeyError("missing")
    except KeyError as exc:
        info = ErrorInfo.from_exception(exc)
        bare = ErrorInfo.from_exception(exc, include_traceback=False)

    assert info.exception_type == "builtins.KeyError"
    assert info.message == "'missing'"
    assert info.traceback is not None
    assert "KeyError" in info.traceback
    assert bare.traceback is None


@pytest.mark.parametrize(
    ("argument", "value"),
    [("max_payload_bytes", 0), ("max_payload_bytes", True), ("source", " ")],
)
def test_invalid_serde_arguments_name_the_argument(argument: str, value: Any) -> None:
    from akx_events import ConfigurationError

    with pytest.raises(ConfigurationError, match=argument):
        EventSerde(SchemaRegistryConfig(url="mock://args"), **{argument: value})
