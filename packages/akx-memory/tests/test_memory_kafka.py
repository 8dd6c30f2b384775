"""KafkaMemory on the session's real broker: replication, recovery, queries, bad records."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from datetime import date

import pytest
from autogen_core.memory import MemoryContent, MemoryMimeType
from autogen_core.model_context import UnboundedChatCompletionContext
from autogen_core.models import SystemMessage, UserMessage
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition

from akx_dev import KafkaStack
from akx_events import EventSerde, MemoryEvent, SchemaRegistryConfig
from akx_memory import (
    KafkaMemory,
    KafkaMemoryConfig,
    KafkaMemoryError,
    MemoryEntryNotFoundError,
    MemoryStateError,
    ReplayTimeoutError,
    UnsupportedContentError,
)
from akx_memory._changelog import partition_for

Factory = Callable[..., KafkaMemoryConfig]
Wait = Callable[..., Awaitable[None]]


def text(value: str, **metadata: object) -> MemoryContent:
    return MemoryContent(content=value, mime_type=MemoryMimeType.TEXT, metadata=metadata or None)


def listing(memory: KafkaMemory) -> list[tuple[str, str]]:
    return [(k, repr(v)) for k, v in memory.entries().items()]


async def test_an_add_is_visible_to_the_writer_as_soon_as_it_returns(
    memory_config: Factory,
) -> None:
    async with KafkaMemory(memory_config(), "s") as memory:
        memory_id = await memory.add_entry(text("User prefers formal language", kind="pref"))
        result = await memory.query("formal language")
        assert [r.metadata["memory_id"] for r in result.results if r.metadata] == [memory_id]
        stored = memory.get(memory_id)
        assert stored == text("User prefers formal language", kind="pref")
        assert len(memory) == 1


async def test_two_instances_converge_after_concurrent_adds(
    memory_config: Factory, converged: Wait
) -> None:
    config = memory_config()
    async with KafkaMemory(config, "s") as a, KafkaMemory(config, "s") as b:
        await asyncio.gather(
            *(a.add(text(f"from a {i}")) for i in range(40)),
            *(b.add(text(f"from b {i}")) for i in range(40)),
        )
        await converged(a, b)
        assert len(a) == 80
        assert b.lag.count > 0
        assert b.replication_lag is not None and 0 <= b.replication_lag < 5


async def test_a_new_instance_recovers_everything_after_all_others_stopped(
    memory_config: Factory, converged: Wait
) -> None:
    config = memory_config()
    async with KafkaMemory(config, "s") as a, KafkaMemory(config, "s") as b:
        ids = [await a.add_entry(text(f"entry {i}", n=i)) for i in range(10)]
        await b.add(MemoryContent(content={"j": [1, 2]}, mime_type=MemoryMimeType.JSON))
        await a.update(ids[3], text("entry three, updated"))
        await a.delete(ids[5])
        await converged(a, b)  # a shows b's entry once it has read it back
        before = listing(a)
    async with KafkaMemory(config, "s") as restarted:
        assert listing(restarted) == before
        assert restarted.get(ids[3]) == text("entry three, updated")
        assert restarted.get(ids[5]) is None


async def test_clear_replicates_and_survives_replay(
    memory_config: Factory, converged: Wait, eventually: Wait
) -> None:
    config = memory_config()
    async with KafkaMemory(config, "s") as a, KafkaMemory(config, "s") as b:
        for i in range(5):
            await a.add(text(f"old {i}"))
        await converged(a, b)
        await b.clear()
        assert len(b) == 0
        await eventually(lambda: len(a) == 0)
        kept = await a.add_entry(text("after the clear"))
        await converged(a, b)
    async with KafkaMemory(config, "s") as later:
        assert list(later.entries()) == [kept]


async def test_sessions_sharing_a_topic_see_nothing_of_each_other(
    memory_config: Factory, eventually: Wait
) -> None:
    # One partition, and ids chosen so that both sessions write the key "s/x/1".
    config = memory_config(topic_partitions=1)
    async with (
        KafkaMemory(config, "s") as s,
        KafkaMemory(config, "s/x") as sx,
        KafkaMemory(config, "other") as other,
    ):
        await s.add_entry(text("of s"), memory_id="x/1")
        await sx.add_entry(text("of s/x"), memory_id="1")
        await other.add(text("of other"))
        await other.clear()
        async with KafkaMemory(config, "s") as s2:
            assert [c.content for c in s2.entries().values()] == ["of s"]
        await eventually(lambda: len(other) == 0)
        assert [c.content for c in s.entries().values()] == ["of s"]
        assert [c.content for c in sx.entries().values()] == ["of s/x"]


async def test_update_and_delete_by_id_replicate(memory_config: Factory, eventually: Wait) -> None:
    config = memory_config()
    async with KafkaMemory(config, "s") as a, KafkaMemory(config, "s") as b:
        memory_id = await a.add_entry(text("v1"))
        await eventually(lambda: b.get(memory_id) is not None)
        await a.update(memory_id, MemoryContent(content=b"v2", mime_type=MemoryMimeType.BINARY))
        await eventually(lambda: (b.get(memory_id) or text("")).content == b"v2")
        await b.delete(memory_id)
        await eventually(lambda: a.get(memory_id) is None)
        with pytest.raises(MemoryEntryNotFoundError) as info:
            await a.update(memory_id, text("v3"))
        assert info.value.memory_id == memory_id
        with pytest.raises(MemoryEntryNotFoundError):
            await b.delete("no-such-id")


async def test_query_ranks_annotates_and_narrows(memory_config: Factory) -> None:
    async with KafkaMemory(memory_config(k=2), "s") as memory:
        ids = {
            name: await memory.add_entry(text(body, topic=name))
            for name, body in [
                ("kafka", "Events are streamed through Apache Kafka topics"),
                ("paris", "The offsite is held in Paris in June"),
                ("coffee", "Dave drinks espresso every morning"),
            ]
        }
        narrowed = await memory.query("Where is the offsite in June?")
        assert len(narrowed.results) == 2
        best = narrowed.results[0].metadata or {}
        assert (best["topic"], best["memory_id"]) == ("paris", ids["paris"])
        assert best["score"] > (narrowed.results[1].metadata or {})["score"]

        everything = await memory.query("offsite", k=10)
        assert len(everything.results) == 3
        relevant = await memory.query("offsite", k=10, score_threshold=0.01)
        assert [(r.metadata or {})["topic"] for r in relevant.results] == ["paris"]
        in_order = await memory.query("", k=10)
        assert [(r.metadata or {})["topic"] for r in in_order.results] == list(ids)
        assert (memory.get(ids["paris"]) or text("")).metadata == {"topic": "paris"}
        with pytest.raises(TypeError, match="top_k"):
            await memory.query("x", top_k=3)


async def test_update_context_adds_the_best_entries_as_a_system_message(
    memory_config: Factory,
) -> None:
    async with KafkaMemory(memory_config(context_k=1), "s") as memory:
        context = UnboundedChatCompletionContext()
        empty = await memory.update_context(context)
        assert empty.memories.results == []
        assert await context.get_messages() == []
        await memory.add(text("Alice is vegan and avoids dairy"))
        await memory.add(text("Bob likes jazz"))
        await context.add_message(UserMessage(content="What music does Bob like?", source="u"))
        result = await memory.update_context(context)
        messages = await context.get_messages()
        assert isinstance(messages[-1], SystemMessage)
        assert "1. Bob likes jazz" in messages[-1].content
        assert "vegan" not in messages[-1].content
        assert [r.content for r in result.memories.results] == ["Bob likes jazz"]


class LengthScorer:
    def score(self, query: str, documents: Sequence[MemoryContent]) -> list[float]:
        return [float(len(str(d.content))) for d in documents]


class AsyncLengthScorer:
    async def score(self, query: str, documents: Sequence[MemoryContent]) -> list[float]:
        await asyncio.sleep(0)
        return [-float(len(str(d.content))) for d in documents]


class BrokenScorer:
    def score(self, query: str, documents: Sequence[MemoryContent]) -> list[float]:
        return [1.0]


async def test_custom_scorers_sync_and_async(memory_config: Factory, converged: Wait) -> None:
    config = memory_config()
    async with (
        KafkaMemory(config, "s", scorer=LengthScorer()) as longest,
        KafkaMemory(config, "s", scorer=AsyncLengthScorer()) as shortest,
        KafkaMemory(config, "s", scorer=BrokenScorer()) as broken,
    ):
        for body in ("mid size", "a", "the longest one"):
            await longest.add(text(body))
        await converged(longest, shortest, broken)
        assert (await longest.query("q")).results[0].content == "the longest one"
        assert (await shortest.query("q")).results[0].content == "a"
        with pytest.raises(KafkaMemoryError, match="returned 1 scores for 3"):
            await broken.query("q")


async def test_unsupported_content_is_refused_before_anything_is_written(
    memory_config: Factory,
) -> None:
    config = memory_config()
    async with KafkaMemory(config, "s") as memory:
        with pytest.raises(UnsupportedContentError, match="date"):
            await memory.add(text("x", when=date(2025, 1, 1)))
        assert len(memory) == 0
    async with KafkaMemory(config, "s") as again:
        assert len(again) == 0


def _produce(
    stack: KafkaStack,
    topic: str,
    records: list[tuple[int, bytes, bytes, Sequence[tuple[str, bytes]]]],
) -> None:
    producer = Producer({"bootstrap.servers": stack.bootstrap_servers})
    for partition, key, value, headers in records:
        producer.produce(topic, value, key=key, headers=list(headers), partition=partition)
    assert producer.flush(10) == 0


def _read_all(stack: KafkaStack, topic: str, count: int) -> list[Message]:
    consumer = Consumer(
        {
            "bootstrap.servers": stack.bootstrap_servers,
            "group.id": "dlq-reader",
            **stack.consumer_settings(),
        }
    )
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    found: list[Message] = []
    try:
        for _ in range(200):
            message = consumer.poll(0.05)
            if message is not None and message.error() is None:
                found.append(message)
            if len(found) >= count:
                break
        return found
    finally:
        consumer.close()


async def test_corrupt_records_are_skipped_warned_and_dead_lettered(
    memory_config: Factory, kafka_stack: KafkaStack, caplog: pytest.LogCaptureFixture
) -> None:
    config = memory_config()
    async with KafkaMemory(config, "s") as writer:
        partition = partition_for("s", config.partitions)
        serde = EventSerde(SchemaRegistryConfig(url=kafka_stack.schema_registry_url), source="bad")
        await serde.prepare()
        bad_json, headers = serde.encode(
            MemoryEvent(
                session_id="s",
                action="add",
                memory_id="j",
                content=b"{oops",
                mime_type="application/json",
            ),
            topic=config.memory_topic,
            extra_headers=[("akx-memory-form", b"json/enum")],
        )
        serde.close()
        await asyncio.to_thread(
            _produce,
            kafka_stack,
            config.memory_topic,
            [
                (partition, b"s/garbage", b"not an avro record", []),
                (partition, b"s/", b"\x00\x00\x00\xff\xffgarbage clear marker", []),
                (partition, b"s/j", bad_json, headers),
            ],
        )
        good = await writer.add_entry(text("still fine"))
    caplog.set_level(logging.WARNING, logger="autogen_kafka_extension.memory.kafka_memory")
    caplog.clear()
    async with KafkaMemory(config, "s") as reader:
        assert list(reader.entries()) == [good]
        assert reader.dead_letter_count == 3
    assert sum("skipping unreadable memory record" in r.message for r in caplog.records) == 3
    # The writer was following the topic too, and copied the two records that are
    # decoded on arrival; the reader copied all three.
    letters = await asyncio.to_thread(_read_all, kafka_stack, config.dlq_topic, 5)
    mine = [m for m in letters if dict(m.headers() or [])["dlq-reader"] == reader.source.encode()]
    assert sorted(m.key() or b"" for m in mine) == [b"s/", b"s/garbage", b"s/j"]
    assert {m.key() for m in letters} == {b"s/", b"s/garbage", b"s/j"}
    for letter in mine:
        names = dict(letter.headers() or [])
        assert names["dlq-source-topic"] == config.memory_topic.encode()
        assert names["dlq-source-partition"] == str(partition).encode()
        assert int(names["dlq-source-offset"] or b"-1") in (0, 1, 2)
        assert names["dlq-error-type"] in (b"EventDecodeError", b"UnknownSchemaError")
    bad = next(m for m in mine if m.key() == b"s/j")
    assert bad.value() == bad_json
    assert dict(bad.headers() or [])["akx-memory-form"] == b"json/enum"


def _threads_of(memory: KafkaMemory) -> list[str]:
    return [t.name for t in threading.enumerate() if memory.source in t.name]


async def test_close_is_idempotent_and_leaves_no_thread_or_client(memory_config: Factory) -> None:
    memory = KafkaMemory(memory_config(), "s")
    with pytest.raises(MemoryStateError, match="not started"):
        await memory.add(text("too early"))
    await memory.start()
    await memory.start()
    assert len(_threads_of(memory)) == 2
    await memory.close()
    await memory.close()
    assert _threads_of(memory) == []
    with pytest.raises(MemoryStateError, match="closed"):
        await memory.add(text("too late"))
    with pytest.raises(MemoryStateError, match="closed"):
        await memory.start()


async def test_a_replay_that_does_not_finish_in_time_fails_start_and_cleans_up(
    memory_config: Factory,
) -> None:
    async with KafkaMemory(memory_config(), "s") as writer:
        await writer.add(text("something to replay"))
    memory = KafkaMemory(memory_config(start_timeout=0.001), "s")
    with pytest.raises(ReplayTimeoutError, match="replay of"):
        await memory.start()
    assert _threads_of(memory) == []
    with pytest.raises(MemoryStateError, match="closed"):
        await memory.start()


async def test_a_config_without_schema_registry_is_refused(memory_config: Factory) -> None:
    config = memory_config()
    kafka = config.kafka_config.with_overrides(schema_registry_config=None)
    with pytest.raises(MemoryStateError, match="schema_registry_config"):
        KafkaMemory(KafkaMemoryConfig(kafka_config=kafka, memory_topic="t"), "s")


def test_session_id_must_be_a_non_empty_string(memory_config: Factory) -> None:
    with pytest.raises(ValueError, match="session_id"):
        KafkaMemory(memory_config(), "")
