"""Fuzzing the decoders: junk in, EventDecodeError out; never another error, never a hang.

Each decoder (EventSerde.decode, EventSerde.decode_async, DataclassSerde.decode) gets
well over 10,000 junk records from a seeded generator, so failures reproduce.
"""

from __future__ import annotations

import dataclasses
import random
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from akx_events import (
    AgentRef,
    AgentStateEvent,
    DataclassSerde,
    EventDecodeError,
    EventSerde,
    MemoryEvent,
    RegistrationEvent,
    RequestEvent,
    ResponseEvent,
    SchemaRegistryConfig,
    SubscriptionEvent,
)

SEED = 20_251_129
WHEN = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
SAMPLES = [
    RequestEvent(
        message_id="m",
        kind="rpc_request",
        payload=b"{}" * 50,
        type_name="T",
        recipient=AgentRef(type="a", key="k"),
        metadata={"a": "b"},
        time=WHEN,
    ),
    ResponseEvent(message_id="m", sender=AgentRef(type="a", key="k"), payload=b"x", time=WHEN),
    RegistrationEvent(agent_type="a", worker_id="w", action="register", time=WHEN),
    SubscriptionEvent(
        subscription_id="s",
        kind="type",
        topic_type="t",
        agent_type="a",
        worker_id="w",
        action="add",
        time=WHEN,
    ),
    MemoryEvent(session_id="s", action="add", memory_id="m", content=b"hello", time=WHEN),
    AgentStateEvent(agent=AgentRef(type="a", key="k"), state=b"{}", version=3, time=WHEN),
]


@dataclasses.dataclass(frozen=True)
class Note:
    title: str
    tags: list[str]
    score: float = 0.0


@pytest.fixture(scope="module")
def serde() -> Iterator[EventSerde]:
    serde = EventSerde(SchemaRegistryConfig(url=f"mock://fuzz-{uuid.uuid4().hex}"))
    serde.prepare_sync()
    yield serde
    serde.close()


@pytest.fixture(scope="module")
def note_serde() -> DataclassSerde[Note]:
    serde = DataclassSerde(Note, SchemaRegistryConfig(url=f"mock://fuzz-{uuid.uuid4().hex}"))
    serde.prepare_sync()
    return serde


Junk = tuple[str, Any, Any]  # (category, value, headers)


def junk_values(rng: random.Random, valid: list[bytes], known_ids: list[int]) -> Iterator[Junk]:
    """Values that are never a valid record, with the headers of a valid one."""
    for _ in range(2_000):
        yield "random bytes", rng.randbytes(rng.randrange(0, 300)), None
    for _ in range(2_000):
        value = rng.choice(valid)
        yield "truncated", value[: rng.randrange(0, len(value))], None
    for _ in range(1_500):
        value = rng.choice(valid)
        yield "wrong magic", bytes([rng.randrange(1, 256)]) + value[1:], None
    for _ in range(1_500):
        value = rng.choice(valid)
        unknown = rng.choice([0, 2**32 - 1, *(rng.randrange(1000, 2**32) for _ in range(3))])
        yield "unknown id", b"\x00" + unknown.to_bytes(4, "big") + value[5:], None
    for _ in range(1_500):
        value = rng.choice(valid)
        yield "trailing bytes", value + rng.randbytes(rng.randrange(1, 20)), None
    for _ in range(1_500):
        bad = rng.choice([None, "text", 42, 3.5, [1, 2], object()])
        yield "not bytes", bad, None
    for schema_id in known_ids:
        for size in range(0, 4):
            yield "short garbage", b"\x00" + schema_id.to_bytes(4, "big") + b"\xff" * size, None


BAD_HEADERS: list[Callable[[list[tuple[str, bytes]]], Any]] = [
    lambda h: None,
    lambda h: [],
    lambda h: "ce_type",
    lambda h: [("ce_type",)],
    lambda h: [1, 2, 3],
    lambda h: [(name, None) for name, _ in h],
    lambda h: [(n, v) for n, v in h if n != "ce_type"],
    lambda h: [(n, v) for n, v in h if n != "ce_specversion"],
    lambda h: [(n, v) for n, v in h if n != "content-type"],
    lambda h: [*h, ("ce_type", b"io.akx.events.Other")],
    lambda h: [*h, ("ce_specversion", b"0.3")],
    lambda h: [*h, ("content-type", b"application/json")],
    lambda h: [(n.upper(), v) for n, v in h],
]


def check_all_raise(decode: Callable[[Any, Any], Any], cases: Iterator[Junk]) -> int:
    count = 0
    for category, value, headers in cases:
        try:
            decode(value, headers)
        except EventDecodeError:
            count += 1
            continue
        pytest.fail(f"{category}: {value!r} with {headers!r} decoded without error")
    return count


def test_event_decoder_rejects_junk(serde: EventSerde) -> None:
    rng = random.Random(SEED)
    records = [serde.encode(event, topic="t") for event in SAMPLES]
    valid = [value for value, _ in records]
    ids = [serde.schema_id(type(event)) for event in SAMPLES]
    started = time.monotonic()

    def with_valid_headers() -> Iterator[Junk]:
        for category, value, _ in junk_values(rng, valid, ids):
            yield category, value, rng.choice(records)[1]

    def bad_headers() -> Iterator[Junk]:
        for _ in range(2_000):
            value, headers = rng.choice(records)
            yield "bad headers", value, rng.choice(BAD_HEADERS)(headers)
        for value, headers in records:  # each value announced as every other type
            for _, other in records:
                if other != headers:
                    yield "wrong ce_type", value, other

    rejected = check_all_raise(serde.decode, with_valid_headers())
    rejected += check_all_raise(serde.decode, bad_headers())

    assert rejected >= 10_000
    assert time.monotonic() - started < 20


def test_event_decoder_survives_mutations(serde: EventSerde) -> None:
    """Flipped, dropped and inserted bytes: an error or a well-formed event, nothing else."""
    rng = random.Random(SEED + 1)
    records = [(type(event), *serde.encode(event, topic="t")) for event in SAMPLES]
    outcomes = {"rejected": 0, "decoded": 0}
    for _ in range(5_000):
        cls, value, headers = rng.choice(records)
        mutated = bytearray(value)
        for _ in range(rng.randrange(1, 4)):
            spot = rng.randrange(len(mutated))
            action = rng.randrange(3)
            if action == 0:
                mutated[spot] ^= 1 << rng.randrange(8)
            elif action == 1:
                del mutated[spot]
            else:
                mutated.insert(spot, rng.randrange(256))
        try:
            event = serde.decode(bytes(mutated), headers)
        except EventDecodeError:
            outcomes["rejected"] += 1
            continue
        assert type(event) is cls
        outcomes["decoded"] += 1

    assert outcomes["rejected"] > 0
    assert sum(outcomes.values()) == 5_000


def test_garbage_bodies_never_escape_as_other_errors(serde: EventSerde) -> None:
    """Random bodies behind a valid prefix and headers: rejected, or a genuine record."""
    rng = random.Random(SEED + 2)
    records = [(type(e), *serde.encode(e, topic="t")) for e in SAMPLES]
    rejected = 0
    for _ in range(10_000):
        cls, value, headers = rng.choice(records)
        candidate = value[:5] + rng.randbytes(rng.randrange(1, 200))
        try:
            event = serde.decode(candidate, headers)
        except EventDecodeError:
            rejected += 1
            continue
        # Random bytes can spell a valid record (five zero bytes are an empty
        # RegistrationEvent): then it must re-encode to the same bytes.
        assert type(event) is cls
        assert serde.encode(event, topic="t")[0] == candidate

    assert rejected >= 9_900


async def test_async_decoder_rejects_junk_and_unknown_ids(serde: EventSerde) -> None:
    rng = random.Random(SEED + 3)
    value, headers = serde.encode(SAMPLES[0], topic="t")
    rejected = 0
    for schema_id in rng.sample(range(10_000, 2**32), 200):
        junk = b"\x00" + schema_id.to_bytes(4, "big") + value[5:]
        with pytest.raises(EventDecodeError, match="schema id"):
            await serde.decode_async(junk, headers)
        rejected += 1
    for _ in range(10_000):
        try:
            await serde.decode_async(rng.randbytes(rng.randrange(0, 40)), headers)
        except EventDecodeError:
            rejected += 1

    assert rejected == 10_200


def test_dataclass_decoder_rejects_junk(note_serde: DataclassSerde[Note]) -> None:
    rng = random.Random(SEED + 4)
    valid = [
        note_serde.encode(Note(title=t, tags=["a"] * n, score=n / 3))
        for t, n in (("x", 0), ("héllo wörld", 3), ("", 10))
    ]

    rejected = check_all_raise(
        lambda value, _: note_serde.decode(value),
        junk_values(rng, valid, [note_serde.schema_id]),
    )

    assert rejected >= 10_000


@settings(max_examples=2_000, deadline=None)
@given(
    value=st.one_of(st.none(), st.binary(max_size=64), st.binary(max_size=8).map(b"\x00".__add__)),
    headers=st.one_of(
        st.none(),
        st.lists(st.tuples(st.text(max_size=16), st.none() | st.binary(max_size=32)), max_size=8),
    ),
)
def test_arbitrary_values_and_headers_raise_decode_errors(
    serde: EventSerde, value: bytes | None, headers: list[tuple[str, bytes | None]] | None
) -> None:
    with pytest.raises(EventDecodeError):
        serde.decode(value, headers)
