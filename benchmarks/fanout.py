"""Publish fan-out: events per second delivered to 1 and to 10 subscriber agent types.

The publisher (this process) publishes ``fanout_events`` events to a topic that one or
ten counting agent types (hosted by another process) subscribe to, 32 publishes in
flight; the clock stops when every subscriber has counted every event (asked with an
RPC every 20 ms). akx and autogen-ext's gRPC runtime (host + subscriber worker
processes) take turns, and a second akx publisher configured with ``publish_topic=None``
(no observer copy per publication, which the gRPC runtime does not write either).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from typing import Any

from autogen_core import AgentId, AgentRuntime, TopicId

from akx_dev import KafkaStack
from akx_runtime import KafkaAgentRuntime

from ._agents import FANOUT_TOPICS, CountQuery, CountReply, Tick, add_serializers
from ._common import (
    Sizes,
    Worker,
    progress,
    ratio,
    runtime_config,
    stack_dict,
    start_workers,
    stop_workers,
)
from ._grpc import free_address

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


async def run(stack: KafkaStack, sizes: Sizes) -> dict[str, Any]:
    from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime

    prefix = f"fan-{uuid.uuid4().hex[:6]}"
    host = free_address()
    grpc_host = Worker("grpc-host", host=host)
    akx_subs = Worker(
        "akx", stack=stack_dict(stack), prefix=prefix, worker="subscribers", roles=["subs"]
    )
    workers = [grpc_host, akx_subs]
    start_workers(*workers)
    grpc_subs = Worker("grpc", host=host, roles=["subs"])
    workers.append(grpc_subs)
    start_workers(grpc_subs)
    akx = KafkaAgentRuntime(runtime_config(stack, prefix, "publisher"))
    nocopy = KafkaAgentRuntime(
        dataclasses.replace(runtime_config(stack, prefix, "publisher-nocopy"), publish_topic=None)
    )
    grpc = GrpcWorkerAgentRuntime(host_address=host)
    add_serializers(grpc)
    runtimes: dict[str, AgentRuntime] = {"akx": akx, "grpc": grpc, "akx_nocopy": nocopy}
    results: dict[str, dict[str, float]] = {name: {} for name in RUNTIMES}
    try:
        await akx.start()
        await nocopy.start()
        await grpc.start()
        with progress.bar(len(RUNTIMES) * len(FANOUT_TOPICS) + 1, "fan-out") as bar:
            for name in RUNTIMES:  # warm up: group joins, schemas, connections
                for subscribers in FANOUT_TOPICS:
                    await _fan_out(runtimes[name], subscribers, 5)
            bar.update()
            for i, subscribers in enumerate(FANOUT_TOPICS):
                order = RUNTIMES if i % 2 == 0 else RUNTIMES[::-1]
                for name in order:
                    results[name][str(subscribers)] = await _fan_out(
                        runtimes[name], subscribers, sizes.fanout_events
                    )
                    bar.update()
    finally:
        await grpc.stop()
        await nocopy.stop()
        await akx.stop()
        stop_workers(*reversed(workers))
    return {
        "events": sizes.fanout_events,
        "in_flight": IN_FLIGHT,
        "delivered_per_s": results,
        "ratio": {
            str(n): ratio(results["akx"][str(n)], results["grpc"][str(n)]) for n in FANOUT_TOPICS
        },
        "ratio_nocopy": {
            str(n): ratio(results["akx_nocopy"][str(n)], results["grpc"][str(n)])
            for n in FANOUT_TOPICS
        },
    }
