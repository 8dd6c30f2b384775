"""Publish acknowledgements: batched per publisher, readable back, kept in the journal."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, cast

import pytest
from autogen_core import AgentId, BaseAgent, MessageContext, TopicId, TypeSubscription
from confluent_kafka import Consumer, Message, TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from akx_dev import KafkaStack
from akx_events import AgentRef, EventSerde, ResponseEvent, SchemaRegistryConfig
from akx_runtime import KafkaAgentRuntime, KafkaAgentRuntimeConfig
from akx_runtime._acks import (
    ACK,
    ACKS,
    PublishAcks,
    ack_reply,
    acked,
)
from akx_runtime._journal import (
    KIND_HEADER,
    OFFSET_HEADER,
    REPLY_KEY_HEADER,
    REPLY_TO_HEADER,
    JournalTail,
    StoredReply,
    _apply,  # pyright: ignore[reportPrivateUsage]
)

Sent = list[tuple[str, ResponseEvent, str]]


def _recording_acks(
    fail: BaseException | None = None,
) -> tuple[PublishAcks, Sent, list[asyncio.Future[Message]]]:
    sent: Sent = []
    deliveries: list[asyncio.Future[Message]] = []

    def send(topic: str, event: ResponseEvent, key: str) -> asyncio.Future[Message]:
        sent.append((topic, event, key))
        delivery: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        deliveries.append(delivery)
        if fail is not None:
            delivery.set_exception(fail)
        return delivery

    return PublishAcks(send), sent, deliveries


async def test_acknowledgements_of_one_iteration_share_a_record_per_publisher() -> None:
    acks, sent, deliveries = _recording_acks()
    futures = [
        acks.send(ack_reply("replies.a", f"m{n}", AgentRef(type="sub", key=str(n))))
        for n in range(5)
    ]
    futures.append(acks.send(ack_reply("replies.b", "m9", AgentRef(type="other", key="k"))))
    assert all(f is not None and not f.done() for f in futures)
    await asyncio.sleep(0)  # the batch goes out at the end of the loop iteration
    assert [(topic, key) for topic, _event, key in sent] == [
        ("replies.a", "m0"),
        ("replies.b", "m9"),
    ]
    first = sent[0][1]
    assert first.metadata[ACK] == "publish"
    assert list(acked(first.metadata)) == [
        ("m0", "sub", "0"),
        ("m1", "sub", "1"),
        ("m2", "sub", "2"),
        ("m3", "sub", "3"),
        ("m4", "sub", "4"),
    ]
    assert not any(f.done() for f in futures if f is not None)
    for delivery in deliveries:
        delivery.set_result(cast(Message, None))
    await asyncio.sleep(0)
    assert all(f is not None and f.done() and f.result() is None for f in futures)


async def test_a_failed_batch_fails_every_acknowledgement_in_it() -> None:
    acks, _sent, _deliveries = _recording_acks(fail=RuntimeError("broker gone"))
    futures = [acks.send(ack_reply("r", f"m{n}", AgentRef(type="t", key="k"))) for n in range(3)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    for future in futures:
        assert future is not None
        with pytest.raises(RuntimeError, match="broker gone"):
            future.result()


async def test_large_batches_are_split() -> None:
    acks, sent, _deliveries = _recording_acks()
    for n in range(1201):
        acks.send(ack_reply("r", f"m{n}", AgentRef(type="t", key="k")))
    await asyncio.sleep(0)
    sizes = [len(list(acked(event.metadata))) for _t, event, _k in sent]
    assert sizes == [500, 500, 201]


async def test_replies_that_are_not_acknowledgements_are_left_alone() -> None:
    acks, sent, _deliveries = _recording_acks()
    reply = StoredReply(topic="r", key=b"m1", value=b"avro", headers=[("ce_id", b"m1")])
    assert acks.send(reply) is None
    assert acks.send(StoredReply(topic="r", key=b"m1", value=None, headers=[])) is None
    await asyncio.sleep(0)
    assert sent == []


@given(
    message_id=st.text(min_size=1),
    agent_type=st.from_regex(r"[\w\-\.]+", fullmatch=True),
    key=st.text(),
)
def test_a_journaled_acknowledgement_reads_back_and_is_sent_again_as_one(
    message_id: str, agent_type: str, key: str
) -> None:
    # What the journal keeps: reply topic and key as its own headers, the rest as is.
    reply = ack_reply("replies.w1", message_id, AgentRef(type=agent_type, key=key))
    assert reply.key is not None
    headers: list[tuple[str, bytes | None]] = [
        (KIND_HEADER, b"done"),
        (OFFSET_HEADER, b"7"),
        (REPLY_TO_HEADER, reply.topic.encode()),
        (REPLY_KEY_HEADER, reply.key),
        *reply.headers,
    ]
    tail = JournalTail()
    record = Message(
        topic="j", partition=0, offset=3, key=b"k", value=None, headers=cast(Any, headers)
    )
    _apply(tail, record)
    stored = tail.replies[7]

    async def resend() -> list[tuple[str, str, str]]:
        acks, sent, _ = _recording_acks()
        assert acks.send(stored) is not None
        await asyncio.sleep(0)
        return list(acked(sent[0][1].metadata))

    assert asyncio.run(resend()) == [(message_id, agent_type, key)]


@given(st.text())
def test_junk_batches_raise_value_error_only(junk: str) -> None:
    try:
        entries = list(acked({ACKS: junk}))
    except ValueError:
        return
    assert all(isinstance(part, str) for entry in entries for part in entry)


@pytest.mark.parametrize(
    "junk", ["{}", "[1]", '[["a", "b"]]', '[["a", "b", 3]]', "[[null, null, null]]"]
)
def test_malformed_batches_are_refused(junk: str) -> None:
    with pytest.raises(ValueError, match=r"akx\.acks"):
        list(acked({ACKS: junk}))


# ------------------------------------------------------------------ on the broker


class Counting(BaseAgent):
    def __init__(self, seen: list[int]) -> None:
        super().__init__("counts published numbers")
        self._seen = seen

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> None:
        self._seen.append(message)


def _count_ack_records(stack: KafkaStack, topic: str, url: str) -> tuple[int, int]:
    """Records on ``topic`` that acknowledge publishes, and the acknowledgements in them."""
    serde = EventSerde(SchemaRegistryConfig(url=url))
    serde.prepare_sync()
    consumer = Consumer(
        {
            "bootstrap.servers": stack.bootstrap_servers,
            "group.id": "ack-counter",
            "enable.auto.commit": False,
            **stack.consumer_settings(),
        }
    )
    records = acks = quiet = 0
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        while quiet < 10:  # read until the topic stays quiet for ~1 s
            message = consumer.poll(0.1)
            if message is None or message.error() is not None:
                quiet += 1
                continue
            quiet = 0
            event = serde.decode(message.value(), cast(Any, message.headers()))
            if isinstance(event, ResponseEvent) and event.metadata.get(ACK):
                records += 1
                acks += len(list(acked(event.metadata))) if ACKS in event.metadata else 1
    finally:
        consumer.close()
    return records, acks


async def test_a_burst_of_publishes_is_acknowledged_in_fewer_records(
    kafka_stack: KafkaStack, runtime_config: Callable[..., KafkaAgentRuntimeConfig]
) -> None:
    seen: list[int] = []
    subscriber = KafkaAgentRuntime(runtime_config())
    publisher = KafkaAgentRuntime(runtime_config())
    try:
        await Counting.register(subscriber, "counter", lambda: Counting(seen))
        await subscriber.add_subscription(TypeSubscription("numbers", "counter"))
        await subscriber.start()
        await publisher.start()
        await asyncio.gather(
            *(publisher.publish_message(n, TopicId("numbers", "one")) for n in range(200))
        )
        # Returns only once every acknowledgement arrived.
        await asyncio.wait_for(publisher.stop_when_idle(), 30)
        assert sorted(seen) == list(range(200))
        reply_topic = publisher._reply_topic  # pyright: ignore[reportPrivateUsage]
    finally:
        await publisher.close()
        await subscriber.close()
    records, acks = await asyncio.to_thread(
        _count_ack_records, kafka_stack, reply_topic, kafka_stack.schema_registry_url
    )
    assert acks == 200
    assert records < 200 / 2, records


def test_batch_metadata_is_plain_json() -> None:
    # Readable by any consumer of the reply topic, not only by this runtime.
    async def one() -> ResponseEvent:
        acks, sent, _ = _recording_acks()
        acks.send(ack_reply("r", "m1", AgentRef(type="t", key="k")))
        await asyncio.sleep(0)
        return sent[0][1]

    event = asyncio.run(one())
    assert json.loads(event.metadata[ACKS]) == [["m1", "t", "k"]]
    assert event.sender == AgentRef(type="t", key="k")
    assert AgentId("t", "k") == AgentId(event.sender.type, event.sender.key)


class Waiting(BaseAgent):
    def __init__(self, release: asyncio.Event) -> None:
        super().__init__("waits until released")
        self._release = release

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> None:
        await self._release.wait()


async def test_stopping_with_acknowledgements_outstanding_logs_no_lost_errors(
    runtime_config: Callable[..., KafkaAgentRuntimeConfig],
) -> None:
    import gc

    release = asyncio.Event()
    subscriber = KafkaAgentRuntime(runtime_config())
    publisher = KafkaAgentRuntime(runtime_config())
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    try:
        await Waiting.register(subscriber, "waiter", lambda: Waiting(release))
        await subscriber.add_subscription(TypeSubscription("held", "waiter"))
        await subscriber.start()
        await publisher.start()
        for n in range(5):
            await publisher.publish_message(n, TopicId("held", f"k{n}"))
        # Stopped while every acknowledgement is still owed: they fail, and nobody waits.
        await publisher.stop()
        gc.collect()
        await asyncio.sleep(0)
    finally:
        release.set()
        loop.set_exception_handler(previous)
        await publisher.close()
        await subscriber.close()
    assert [c.get("message") for c in unhandled] == []


async def test_acknowledgements_that_never_come_are_forgotten_after_the_timeout() -> None:
    from akx_runtime._runtime import _forget_late  # pyright: ignore[reportPrivateUsage]

    loop = asyncio.get_running_loop()
    acks: list[asyncio.Future[Any]] = [loop.create_future() for _ in range(3)]
    _forget_late(acks, 0.2)
    acks[0].set_result(None)
    acks[1].set_exception(RuntimeError("stopping"))  # read by the callback: nothing logged
    await asyncio.sleep(0.3)
    assert acks[0].result() is None
    assert acks[2].cancelled()  # the one that never came

    # All in before the timeout: the timer goes with them.
    quick: list[asyncio.Future[Any]] = [loop.create_future() for _ in range(2)]
    timer = _forget_late(quick, 60)
    for ack in quick:
        ack.set_result(None)
    await asyncio.sleep(0)
    assert timer.cancelled()
