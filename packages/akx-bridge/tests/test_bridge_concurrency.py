"""Many requests in flight at once, answered out of order."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass

from autogen_core import AgentId, SingleThreadedAgentRuntime
from confluent_kafka import Message

from akx_bridge import (
    CORRELATION_ID_HEADER,
    REPLY_TO_HEADER,
    KafkaAgentConfig,
    KafkaMessageType,
    KafkaStreamingAgent,
)
from akx_events import DataclassSerde

CONCURRENT = 500


@dataclass
class Numbered(KafkaMessageType):
    avro_namespace = "akx.tests.bridge"
    number: int


@dataclass
class Squared(KafkaMessageType):
    avro_namespace = "akx.tests.bridge"
    number: int
    square: int


def header(message: Message, name: str) -> bytes:
    found = next((v for k, v in message.headers() or [] if k == name), None)
    assert isinstance(found, bytes), f"no {name} header"
    return found


async def test_500_concurrent_requests_answered_in_shuffled_order(
    agent_config: Callable[..., KafkaAgentConfig], responder: Callable[..., object]
) -> None:
    config = agent_config(request_timeout=30.0)
    registry = config.kafka_config.schema_registry_config
    assert registry is not None
    requests = DataclassSerde(Numbered, registry, namespace="akx.tests.bridge")
    replies = DataclassSerde(
        Squared, registry, f"{config.response_topic}-value", namespace="akx.tests.bridge"
    )
    agent = KafkaStreamingAgent(config, "squares", Numbered, Squared)
    await agent.start()  # creates the topics the responder reads
    await asyncio.gather(requests.prepare(), replies.prepare())
    answered_order: list[int] = []

    def answer_shuffled(
        batch: list[Message],
    ) -> list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]]:
        random.Random(7).shuffle(batch)
        out: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = []
        for message in batch:
            number = requests.decode(message.value()).number
            answered_order.append(number)
            correlation_id = header(message, CORRELATION_ID_HEADER)
            out.append(
                (
                    header(message, REPLY_TO_HEADER).decode(),
                    correlation_id,
                    replies.encode(Squared(number=number, square=number * number)),
                    [(CORRELATION_ID_HEADER, correlation_id)],
                )
            )
        return out

    responder(config.request_topic, answer_shuffled, batch=CONCURRENT)
    runtime = SingleThreadedAgentRuntime()
    await runtime.register_agent_instance(agent, AgentId("squares", "default"))
    runtime.start()
    try:
        results = await asyncio.gather(
            *(
                runtime.send_message(Numbered(number=n), AgentId("squares", "default"))
                for n in range(CONCURRENT)
            )
        )
    finally:
        await runtime.stop()
        await runtime.close()
        requests.close()
        replies.close()
    assert results == [Squared(number=n, square=n * n) for n in range(CONCURRENT)]
    # The replies really were out of order (far from the order of the requests).
    assert sorted(answered_order) == list(range(CONCURRENT))
    moved = sum(a != b for a, b in zip(answered_order, range(CONCURRENT), strict=True))
    assert moved > CONCURRENT * 0.9
    stats = agent.stats
    assert (stats.requests, stats.replies, stats.late_replies, stats.timeouts) == (500, 500, 0, 0)
