"""Publish fan-out: events per second delivered to 1 and to 10 subscriber agent types.

The publisher (this process) publishes ``fanout_events`` events to a topic that one or
ten counting agent types (hosted by another process) subscribe to, 32 publishes in
flight; the clock stops when every subscriber has counted every event (asked with an
RPC every 20 ms). akx and autogen-ext's gRPC runtime (host + subscriber worker
processes) take turns, and a second akx publisher configured with ``publish_topic=None``
(no observer copy per publication, which the gRPC runtime does not write either).
Each turn starts its publisher and the processes serving it and stops them at its end;
each akx turn has topics of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from autogen_core import AgentId, AgentRuntime, TopicId

from akx_dev import KafkaStack
from akx_runtime import KafkaAgentRuntime

from ._agents import FANOUT_TOPICS, CountQuery, CountReply, Tick
from ._common import (
    Sizes,
    Worker,
    median_of_turns,
    progress,
    ratio,
    runtime_config,
    stack_dict,
    start_workers,
    stop_workers,
)
from ._grpc import grpc_client

IN_FLIGHT = 32
RUNTIMES = ("akx", "grpc", "akx_nocopy")


async def _counts(runtime: AgentRuntime, subscribers: int, source: str) -> int:
    replies = await asyncio.gather(
        *(
            runtime.send_message(CountQuery(), AgentId(f"sub{i}", source))
            for i in range(subscribers)
        )
    )
    return sum(reply.count for reply in replies if isinstance(reply, CountReply))


async def _fan_out(runtime: AgentRuntime, subscribers: int, events: int) -> float:
    """Delivered events per second (``events`` x ``subscribers`` deliveries)."""
    source = f"r{uuid.uuid4().hex[:8]}"  # fresh agent instances: counts start at 0
    topic = TopicId(FANOUT_TOPICS[subscribers], source)
    remaining = events

    async def publisher() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await runtime.publish_message(Tick(n=remaining), topic)

    started = time.perf_counter()
    await asyncio.gather(*(publisher() for _ in range(IN_FLIGHT)))
    deadline = time.monotonic() + 120
    while await _counts(runtime, subscribers, source) < events * subscribers:
        if time.monotonic() > deadline:
            return float("nan")
        await asyncio.sleep(0.02)
    return events * subscribers / (time.perf_counter() - started)


@contextlib.asynccontextmanager
async def _turn(stack: KafkaStack, name: str) -> AsyncIterator[AgentRuntime]:
    """Start one publisher and the processes serving it; stop them all when the turn ends.

    Only one client is alive at a time and each akx turn has topics of its own (as in
    the ``rpc`` section): the ten subscriber types' idle consumers would otherwise poll
    the embedded broker during the other clients' turns (~0.1 core each), and the
    broker slows down as partitions grow.
    """
    if name == "grpc":
        async with grpc_client("subs") as (grpc, _workers):
            yield grpc
        return
    prefix = f"fan-{uuid.uuid4().hex[:6]}"
    subscribers = Worker(
        "akx", stack=stack_dict(stack), prefix=prefix, worker="subscribers", roles=["subs"]
    )
    start_workers(subscribers)
    config = runtime_config(stack, prefix, "publisher")
    if name == "akx_nocopy":
        config = dataclasses.replace(config, publish_topic=None)
    runtime = KafkaAgentRuntime(config)
    try:
        await runtime.start()
        yield runtime
    finally:
        await runtime.stop()
        stop_workers(subscribers)


async def run(stack: KafkaStack, sizes: Sizes) -> dict[str, Any]:
    samples: dict[str, dict[str, list[float]]] = {
        name: {str(n): [] for n in FANOUT_TOPICS} for name in RUNTIMES
    }
    repeats = sizes.throughput_repeats
    with progress.bar(repeats * len(RUNTIMES) * len(FANOUT_TOPICS), "fan-out") as bar:
        turn_number = 0
        for _ in range(repeats):
            for subscribers in FANOUT_TOPICS:
                # Rotate who goes first, so a slow phase of the machine hits all alike.
                shift = turn_number % len(RUNTIMES)
                turn_number += 1
                for name in RUNTIMES[shift:] + RUNTIMES[:shift]:
                    async with _turn(stack, name) as runtime:
                        # Warm up: group joins, schemas, connections, every subscriber type.
                        for warm in FANOUT_TOPICS:
                            await _fan_out(runtime, warm, 5)
                        samples[name][str(subscribers)].append(
                            await _fan_out(runtime, subscribers, sizes.fanout_events)
                        )
                    bar.update()
    # The median of each client's turns (NaN when a turn stalled).
    results = {
        name: {level: median_of_turns(rates) for level, rates in by_level.items()}
        for name, by_level in samples.items()
    }
    return {
        "events": sizes.fanout_events,
        "in_flight": IN_FLIGHT,
        "one_client_alive_per_turn": True,
        "delivered_per_s": results,
        "delivered_per_s_turns": samples,
        "ratio": {
            str(n): ratio(results["akx"][str(n)], results["grpc"][str(n)]) for n in FANOUT_TOPICS
        },
        "ratio_nocopy": {
            str(n): ratio(results["akx_nocopy"][str(n)], results["grpc"][str(n)])
            for n in FANOUT_TOPICS
        },
    }
