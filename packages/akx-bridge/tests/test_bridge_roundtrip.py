"""Round trips through the real broker: a bridge agent in SingleThreadedAgentRuntime and a
RequestProcessor answering it."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from autogen_core import AgentId, SingleThreadedAgentRuntime
from confluent_kafka import Message, Producer

from akx_bridge import (
    CORRELATION_ID_HEADER,
    DLQ_ERROR_TYPE_HEADER,
    DLQ_SOURCE_TOPIC_HEADER,
    ERROR_TYPE_HEADER,
    REPLY_TO_HEADER,
    BridgeClosedError,
    KafkaAgentConfig,
    KafkaMessageType,
    KafkaStreamingAgent,
    RemoteHandlerError,
    RequestProcessor,
    RequestProcessorConfig,
    serve,
)
from akx_dev import KafkaStack, read_records

BRIDGE = AgentId("bridge", "default")


@dataclass
class Sentence(KafkaMessageType):
    avro_namespace = "akx.tests.bridge"
    text: str
    weights: list[float] = field(default_factory=list[float])


@dataclass
class Verdict(KafkaMessageType):
    avro_namespace = "akx.tests.bridge"
    label: str
    score: float | None = None


async def judge(request: Sentence) -> Verdict:
    if request.text == "fail":
        raise ValueError("cannot judge 'fail'")
    label = "positive" if "good" in request.text else "neutral"
    return Verdict(label=label, score=sum(request.weights))


def header(message: Message, name: str) -> bytes | None:
    return next((v for k, v in message.headers() or [] if k == name), None)  # type: ignore[misc]


async def test_round_trip_with_register_agent_instance(
    agent_config: Callable[..., KafkaAgentConfig],
) -> None:
    config = agent_config()
    runtime = SingleThreadedAgentRuntime()
    agent = KafkaStreamingAgent(config, "judge bridge", Sentence, Verdict)
    await runtime.register_agent_instance(agent, BRIDGE)
    runtime.start()
    async with RequestProcessor(config, judge) as processor:
        try:
            good = await runtime.send_message(
                Sentence(text="a good day", weights=[0.5, 0.25]), BRIDGE
            )
            plain = await runtime.send_message(Sentence(text="a day"), BRIDGE)
            with pytest.raises(RemoteHandlerError) as caught:
                await runtime.send_message(Sentence(text="fail"), BRIDGE)
            after_error = await runtime.send_message(Sentence(text="good again"), BRIDGE)
        finally:
            await runtime.stop()
            await runtime.close()
        assert good == Verdict(label="positive", score=0.75)
        assert plain == Verdict(label="neutral", score=0.0)
        assert after_error.label == "positive"
        assert caught.value.error_type == "builtins.ValueError"
        assert caught.value.error_message == "cannot judge 'fail'"
        assert processor.stats.replies == 3
        assert processor.stats.handler_errors == 1
        assert processor.stats.transactions >= 1
    stats = agent.stats
    assert (stats.requests, stats.replies, stats.remote_errors) == (4, 4, 1)
    assert (stats.timeouts, stats.late_replies, stats.malformed_replies) == (0, 0, 0)
    # runtime.close() closed the agent: no more requests.
    with pytest.raises(BridgeClosedError):
        await agent.on_message(Sentence(text="x"), _context())


async def test_round_trip_with_register_factory_and_serve(
    agent_config: Callable[..., KafkaAgentConfig],
) -> None:
    config = agent_config()
    made: list[KafkaStreamingAgent[Sentence, Verdict]] = []

    def factory() -> KafkaStreamingAgent[Sentence, Verdict]:
        made.append(KafkaStreamingAgent(config, "judge bridge", Sentence, Verdict))
        return made[-1]

    service = asyncio.create_task(serve(config, judge))
    runtime = SingleThreadedAgentRuntime()
    await KafkaStreamingAgent.register(runtime, "bridge", factory)  # pyright: ignore[reportUnknownMemberType]
    runtime.start()
    try:
        answers = [
            await runtime.send_message(Sentence(text=f"good {i}"), AgentId("bridge", key))
            for i, key in enumerate(["a", "b"])
        ]
    finally:
        await runtime.stop()
        await runtime.close()
        service.cancel()
        await asyncio.gather(service, return_exceptions=True)
    assert [a.label for a in answers] == ["positive", "positive"]
    assert len(made) == 2  # one instance per key, each with its own Kafka clients
    assert all(agent.stats.replies == 1 for agent in made)
    assert service.cancelled()


async def test_processor_dead_letters_undecodable_requests_and_answers_with_an_error(
    agent_config: Callable[..., KafkaAgentConfig],
    kafka_stack: KafkaStack,
    topic_reader: Callable[..., list[Message]],
) -> None:
    config = agent_config()
    processor_config = RequestProcessorConfig.for_agent_config(config)
    async with RequestProcessor(processor_config, judge) as processor:
        producer = Producer({"bootstrap.servers": kafka_stack.bootstrap_servers})
        garbage: list[tuple[str, str | bytes | None]] = [
            (CORRELATION_ID_HEADER, b"someone.1"),
            (REPLY_TO_HEADER, config.response_topic.encode()),
        ]
        producer.produce(config.request_topic, b"not avro", key=b"someone.1", headers=garbage)
        producer.produce(config.request_topic, b"\x00\x00\x00\x00\x01", key=None)  # no id at all
        await asyncio.to_thread(producer.flush, 10)
        dead = await asyncio.to_thread(topic_reader, processor_config.request_dead_letter_topic, 2)
        replies = await asyncio.to_thread(topic_reader, config.response_topic, 1)
        assert processor.stats.dead_lettered == 2
    assert sorted(m.value() or b"" for m in dead) == [b"\x00\x00\x00\x00\x01", b"not avro"]
    for message in dead:
        assert header(message, DLQ_SOURCE_TOPIC_HEADER) == config.request_topic.encode()
        assert header(message, DLQ_ERROR_TYPE_HEADER) in (
            b"akx_events.exceptions.EventDecodeError",
            b"MissingCorrelationId",
        )
    assert [header(m, CORRELATION_ID_HEADER) for m in replies] == [b"someone.1"]
    assert header(replies[0], ERROR_TYPE_HEADER) == b"akx_events.exceptions.EventDecodeError"


async def test_a_restarted_processor_resumes_after_its_committed_offsets(
    agent_config: Callable[..., KafkaAgentConfig],
) -> None:
    config = agent_config()
    handled: list[str] = []

    async def remember(request: Sentence) -> Verdict:
        handled.append(request.text)
        return Verdict(label="seen")

    agent = KafkaStreamingAgent(config, "bridge", Sentence, Verdict)
    try:
        async with RequestProcessor(config, remember):
            for text in ("one", "two"):
                assert (await agent.on_message(Sentence(text=text), _context())).label == "seen"
        async with RequestProcessor(config, remember) as second:
            assert (await agent.on_message(Sentence(text="three"), _context())).label == "seen"
            assert second.stats.requests == 1
    finally:
        await agent.close()
    assert handled == ["one", "two", "three"]


async def test_a_busy_processor_stops_fetching_instead_of_reading_the_whole_backlog(
    agent_config: Callable[..., KafkaAgentConfig],
) -> None:
    config = agent_config(request_timeout=30.0)
    processor_config = dataclasses.replace(
        RequestProcessorConfig.for_agent_config(config), max_batch=5, max_concurrency=5
    )
    gate = asyncio.Event()

    async def slow(request: Sentence) -> Verdict:
        await gate.wait()
        return Verdict(label=request.text)

    agent = KafkaStreamingAgent(config, "bridge", Sentence, Verdict)
    try:
        async with RequestProcessor(processor_config, slow) as processor:
            consumer = processor._consumer  # pyright: ignore[reportPrivateUsage]
            assert consumer is not None
            # Two waves: the first fills the batch in hand and the one waiting behind
            # it; the second is written only once the hold is applied, so none of it
            # can be in a fetch that was under way (one fetch may bring many records).
            calls = [
                asyncio.ensure_future(agent.on_message(Sentence(text=str(n)), _context()))
                for n in range(12)
            ]
            deadline = time.monotonic() + 20
            while not consumer._held:  # pyright: ignore[reportPrivateUsage]
                assert time.monotonic() < deadline, "the processor never held"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # records librdkafka had fetched may still arrive
            waiting = len(processor._backlog)  # pyright: ignore[reportPrivateUsage]
            assert waiting >= 5, waiting  # the hold comes with a full batch waiting
            calls += [
                asyncio.ensure_future(agent.on_message(Sentence(text=str(n)), _context()))
                for n in range(12, 60)
            ]
            # Read back by a consumer of its own: all 60 are in Kafka.
            settings = config.kafka_config.consumer_config()
            records = await asyncio.to_thread(read_records, settings, config.request_topic, 60)
            assert len(records) == 60
            await asyncio.sleep(1.0)
            # Held: the second wave stays in Kafka until the processor takes the
            # waiting batch.
            assert len(processor._backlog) == waiting  # pyright: ignore[reportPrivateUsage]
            gate.set()
            verdicts = await asyncio.gather(*calls)
            assert not consumer.holding
    finally:
        gate.set()
        await agent.close()
    assert [v.label for v in verdicts] == [str(n) for n in range(60)]


def _context() -> Any:
    from autogen_core import CancellationToken, MessageContext

    return MessageContext(
        sender=None,
        topic_id=None,
        is_rpc=True,
        cancellation_token=CancellationToken(),
        message_id="m",
    )


async def test_two_processors_in_one_group_share_the_requests_without_duplicates(
    agent_config: Callable[..., KafkaAgentConfig],
) -> None:
    # A request caught in the group's rebalance waits it out (long on a busy machine).
    config = agent_config(request_timeout=30.0)
    agent = KafkaStreamingAgent(config, "bridge", Sentence, Verdict)
    try:
        async with (
            RequestProcessor(config, judge) as first,
            RequestProcessor(config, judge) as second,
        ):
            # Until the second member's join and the split are through (~2 s on the
            # embedded broker), one processor may get every request.
            sent, deadline = 0, time.monotonic() + 30
            while min(first.stats.requests, second.stats.requests) == 0:
                assert time.monotonic() < deadline, "the two processors never split the topic"
                await asyncio.gather(
                    *(
                        agent.on_message(Sentence(text=f"good w{sent + n}"), _context())
                        for n in range(6)
                    )
                )
                sent += 6
            answers = await asyncio.gather(
                *(agent.on_message(Sentence(text=f"good {n}"), _context()) for n in range(60))
            )
        counts = (first.stats.requests, second.stats.requests)
    finally:
        await agent.close()
    assert all(answer.label == "positive" for answer in answers)
    assert sum(counts) == sent + 60  # every request handled once
