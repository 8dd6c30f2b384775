"""The journal: done and checkpoint records, read back to the last checkpoint."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from typing import Any, cast

import fastavro
import pytest
from confluent_kafka import Message
from hypothesis import given
from hypothesis import strategies as st

from akx_dev import KafkaStack
from akx_events._admin import TopicSpec, ensure_topics
from akx_events._producer import AsyncProducer
from akx_runtime import _journal as journal_module
from akx_runtime._journal import (
    _DONE_BATCH_SCHEMA,  # pyright: ignore[reportPrivateUsage]
    KIND_HEADER,
    OFFSET_HEADER,
    DoneEntry,
    Journal,
    JournalTail,
    StoredReply,
    _apply,  # pyright: ignore[reportPrivateUsage]
    _pack,  # pyright: ignore[reportPrivateUsage]
    done_entries,
    read_journal,
    unpack_done,
)


@pytest.fixture
async def journal(
    kafka_stack: KafkaStack, topic_name: Callable[[str], str]
) -> tuple[Journal, AsyncProducer, dict[str, object]]:
    requests = topic_name("journal-req")
    kafka = kafka_stack.kafka_config("journal-test")
    journal_topic = requests + ".journal"
    await ensure_topics(kafka.client_config(), [TopicSpec(name=journal_topic, partitions=2)])
    producer = AsyncProducer(kafka.producer_config())
    await producer.start()
    return Journal(producer, requests), producer, kafka.consumer_config("unused")


def _reply(n: int) -> StoredReply:
    return StoredReply(
        topic="replies.w1", key=f"m{n}".encode(), value=f"v{n}".encode(), headers=[("ce_id", b"x")]
    )


async def test_an_empty_journal_says_nothing_was_handled(
    journal: tuple[Journal, AsyncProducer, dict[str, object]],
) -> None:
    writer, producer, config = journal
    try:
        tails = read_journal(config, writer.topic, [0, 1], timeout=10)
    finally:
        await producer.stop()
    assert tails == {0: JournalTail(), 1: JournalTail()}
    assert not tails[0].is_handled(0)


async def test_the_last_checkpoint_and_what_follows_it_decide(
    journal: tuple[Journal, AsyncProducer, dict[str, object]],
) -> None:
    writer, producer, config = journal
    try:
        await writer.handled(partition=0, offset=5, key=b"a", reply=_reply(5))
        await writer.handled(partition=0, offset=7, key=b"a", reply=None, state=b'{"n": 1}')
        await writer.checkpoint(partition=0, commit_point=6, handled=[7], since=None)
        await writer.handled(partition=0, offset=9, key=b"b", reply=_reply(9), state=b'{"n": 2}')
        await writer.handled(partition=1, offset=0, key=b"c", reply=_reply(0))
        tails = read_journal(config, writer.topic, [0, 1], timeout=10)
    finally:
        await producer.stop()
    tail = tails[0]
    assert tail.commit_point == 6
    assert [o for o in range(12) if tail.is_handled(o)] == [0, 1, 2, 3, 4, 5, 7, 9]
    assert tail.replies == {9: _reply(9)}
    assert tail.states == {"a": b'{"n": 1}', "b": b'{"n": 2}'}
    assert tails[1].replies == {0: _reply(0)} and tails[1].commit_point == -1


async def test_done_records_before_the_checkpoint_are_found_through_since(
    journal: tuple[Journal, AsyncProducer, dict[str, object]],
) -> None:
    writer, producer, config = journal
    try:
        # Request 20 was journaled, but its reply was not acknowledged when the
        # checkpoint (commit point 15) was written many records later.
        first = await writer.handled(partition=0, offset=20, key=b"a", reply=_reply(20))
        for n in range(30):
            await writer.handled(partition=0, offset=100 + n, key=b"a", reply=None)
        await writer.checkpoint(partition=0, commit_point=15, handled=[], since=first.offset())
        tails = read_journal(config, writer.topic, [0], timeout=10, chunk=10)
    finally:
        await producer.stop()
    tail = tails[0]
    assert tail.commit_point == 15
    assert tail.is_handled(20) and not tail.is_handled(16)
    assert tail.replies == {20: _reply(20)}


async def test_the_reader_steps_back_until_it_finds_a_checkpoint(
    journal: tuple[Journal, AsyncProducer, dict[str, object]],
) -> None:
    writer, producer, config = journal
    try:
        await writer.checkpoint(partition=1, commit_point=3, handled=[4], since=None)
        for n in range(25):
            await writer.handled(partition=1, offset=10 + n, key=b"k", reply=None)
        tails = read_journal(config, writer.topic, [1], timeout=10, chunk=4)
    finally:
        await producer.stop()
    tail = tails[1]
    assert tail.commit_point == 3
    assert tail.handled == {4, *range(10, 35)}


async def test_a_long_journal_is_read_from_its_last_checkpoint_not_from_far_back(
    journal: tuple[Journal, AsyncProducer, dict[str, object]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A long-lived worker's journal: many large done records, then a checkpoint, then a
    # few more. The new owner must read the tail only (reading 2,000 records back
    # took over 20 s on the embedded broker once records held whole batches).
    writer, producer, config = journal
    starts: list[int] = []
    read_from = journal_module._read_from  # pyright: ignore[reportPrivateUsage]

    def recording(consumer: Any, topic: str, partition: int, start: int, **kw: Any) -> Any:
        starts.append(start)
        return read_from(consumer, topic, partition, start, **kw)

    monkeypatch.setattr(journal_module, "_read_from", recording)
    big = StoredReply(topic="r", key=b"k", value=b"x" * 20_000, headers=[])
    try:
        for n in range(200):
            await writer.handled(partition=0, offset=n, key=b"a", reply=big)
        checkpoint = await writer.checkpoint(partition=0, commit_point=200, handled=[], since=None)
        for n in range(200, 203):
            await writer.handled(partition=0, offset=n, key=b"a", reply=_reply(n))
        tails = read_journal(config, writer.topic, [0], timeout=10)
    finally:
        await producer.stop()
    assert tails[0].commit_point == 200
    assert tails[0].replies == {n: _reply(n) for n in range(200, 203)}
    assert min(starts) >= checkpoint.offset() - 32  # the tail, not the 4 MB before it


def _message(headers: list[tuple[str, bytes | None]], value: bytes | None) -> Message:
    return Message(
        topic="j", partition=0, offset=1, key=b"k", value=value, headers=cast(Any, headers)
    )


@given(
    kind=st.sampled_from([b"done", b"done-pack", b"done-batch", b"checkpoint", b"other", None]),
    offset=st.one_of(st.none(), st.binary(max_size=8)),
    value=st.one_of(st.none(), st.binary(max_size=64)),
)
def test_junk_journal_records_are_skipped_without_error(
    kind: bytes | None, offset: bytes | None, value: bytes | None
) -> None:
    tail = JournalTail(commit_point=2, handled={3})
    headers: list[tuple[str, bytes | None]] = [(KIND_HEADER, kind), (OFFSET_HEADER, offset)]
    _apply(tail, _message(headers, value))
    assert tail.commit_point >= 2
    assert tail.is_handled(1)


_maybe_bytes = st.one_of(st.none(), st.binary(max_size=40))
done_entry = st.builds(
    DoneEntry,
    offset=st.integers(min_value=0, max_value=2**63 - 1),
    key=_maybe_bytes,
    reply_to=st.one_of(st.none(), st.text(max_size=20)),
    reply_key=_maybe_bytes,
    reply_value=_maybe_bytes,
    reply_headers=st.lists(st.tuples(st.text(max_size=12), _maybe_bytes), max_size=12),
    state=_maybe_bytes,
)


@given(entries=st.lists(done_entry, max_size=8))
def test_done_packs_read_back_what_was_written(entries: list[DoneEntry]) -> None:
    assert unpack_done(_pack(entries)) == entries


@given(junk=st.binary(max_size=200))
def test_junk_done_packs_fail_with_a_value_error_or_read_as_entries(junk: bytes) -> None:
    error: ValueError | None = None
    entries: list[DoneEntry] = []
    try:
        entries = unpack_done(junk)
    except ValueError as exc:
        error = exc
    assert "done pack" in str(error) if error else all(e.offset >= 0 for e in entries)


@given(
    item=st.recursive(
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(min_value=-(2**63), max_value=2**64 - 1),
            st.text(max_size=8),
            st.binary(max_size=8),
        ),
        lambda inner: st.lists(inner, max_size=8),
        max_leaves=30,
    )
)
def test_well_formed_packs_of_the_wrong_shape_name_what_does_not_fit(item: Any) -> None:
    error: ValueError | None = None
    entries: list[DoneEntry] = []
    try:
        entries = unpack_done(_pack([item]))
    except ValueError as exc:
        error = exc
    if error is not None:
        assert "done pack entry 0" in str(error)
    else:
        assert entries[0].offset >= 0
        assert all(isinstance(v, bytes | None) for _, v in entries[0].reply_headers)


def test_a_done_pack_entry_with_a_bad_field_is_named() -> None:
    entry = [4, b"k", "replies", b"m", b"v", [["ce_id", 7]], None]
    with pytest.raises(ValueError, match=r"entry 0 has reply header \['ce_id', 7\]"):
        unpack_done(_pack([entry]))
    with pytest.raises(ValueError, match="entry 1 has offset True"):
        unpack_done(_pack([DoneEntry(1, None, None, None, None, [], None), [True, *entry[1:]]]))


def test_avro_done_batches_of_earlier_versions_are_still_read() -> None:
    body = io.BytesIO()
    fastavro.schemaless_writer(
        body,
        _DONE_BATCH_SCHEMA,
        {
            "entries": [
                {
                    "offset": 5,
                    "key": b"a",
                    "reply_to": "replies.w1",
                    "reply_key": b"m5",
                    "reply_value": b"v5",
                    "reply_headers": [{"name": "ce_id", "value": b"x"}],
                    "state": b"{}",
                },
                {
                    "offset": 6,
                    "key": None,
                    "reply_to": None,
                    "reply_key": None,
                    "reply_value": None,
                    "reply_headers": [],
                    "state": None,
                },
            ]
        },
    )
    tail = JournalTail()
    _apply(tail, _message([(KIND_HEADER, b"done-batch")], body.getvalue()))
    assert tail.handled == {5, 6}
    assert tail.replies == {5: _reply(5)}
    assert tail.states == {"a": b"{}"}


def test_a_done_pack_folds_its_replies_and_states_into_the_tail() -> None:
    entries = [
        DoneEntry(5, b"a", "replies.w1", b"m5", b"v5", [("ce_id", b"x")], b"{}"),
        DoneEntry(6, None, None, None, None, [], None),
    ]
    tail = JournalTail()
    _apply(tail, _message([(KIND_HEADER, b"done-pack")], _pack(entries)))
    assert tail.handled == {5, 6}
    assert tail.replies == {5: _reply(5)}
    assert tail.states == {"a": b"{}"}


def test_a_checkpoint_keeps_done_records_above_its_commit_point() -> None:
    tail = JournalTail()
    _apply(tail, _message([(KIND_HEADER, b"done"), (OFFSET_HEADER, b"8")], b"r"))
    _apply(tail, _message([(KIND_HEADER, b"done"), (OFFSET_HEADER, b"4")], b"r"))
    body = json.dumps({"commit": 6, "handled": [7], "since": None}).encode()
    _apply(tail, _message([(KIND_HEADER, b"checkpoint")], body))
    assert tail.handled == {7, 8}
    assert tail.is_handled(4) and tail.is_handled(5) and not tail.is_handled(6)


async def test_done_entries_of_one_iteration_share_a_record_per_partition_within_a_size() -> None:
    produced: list[tuple[str, bytes, int]] = []
    deliveries: list[asyncio.Future[Message]] = []

    class Recording:
        def produce(
            self, topic: str, value: bytes, *, headers: Any = None, partition: int = 0
        ) -> asyncio.Future[Message]:
            produced.append((topic, value, partition))
            delivery: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
            deliveries.append(delivery)
            return delivery

    writer = Journal(cast(AsyncProducer, Recording()), "req")
    big = StoredReply(topic="r", key=b"k", value=b"x" * 100_000, headers=[])
    futures = [writer.handled(partition=0, offset=n, key=b"a", reply=big) for n in range(3)]
    futures.append(writer.handled(partition=1, offset=9, key=b"b", reply=_reply(9)))
    await asyncio.sleep(0)
    # 300 KB of replies for partition 0: two records (256 KB at most each); one for 1.
    assert [(topic, partition) for topic, _value, partition in produced] == [
        ("req.journal", 0),
        ("req.journal", 0),
        ("req.journal", 1),
    ]
    records = [
        Message(
            topic="req.journal",
            partition=p,
            offset=i,
            value=v,
            headers=cast(Any, [(KIND_HEADER, b"done-pack")]),
        )
        for i, (_t, v, p) in enumerate(produced)
    ]
    assert [[e.offset for e in done_entries(r)] for r in records] == [[0, 1], [2], [9]]
    for delivery, record in zip(deliveries, records, strict=True):
        delivery.set_result(record)
    await asyncio.sleep(0)
    assert [f.result().offset() for f in futures] == [0, 0, 1, 2]
