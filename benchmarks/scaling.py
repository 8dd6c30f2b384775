"""Scaling: one agent type with a CPU-bound handler on one worker process, then on two.

The type's request topic has four partitions; callers spread requests over 64 agent
keys, so the consumer group shares them between the workers. Each request burns
``spin_ms`` of CPU in pure Python. The caller keeps 32 requests in flight.

A third measurement runs the one worker with ``max_in_flight`` at 2: the worker then
pauses fetching whenever two handlers run and records wait, and resumes as they
finish, so its throughput against the unlimited worker shows what that flow control
costs (a resume that waits for librdkafka's next 1 s tick would show up here).
"""

from __future__ import annotations

import asyncio
import collections
import time
import uuid
from typing import Any

from autogen_core import AgentId

from akx_dev import KafkaStack
from akx_runtime import KafkaAgentRuntime

from ._agents import Done, Work
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

PARTITIONS = 4
KEYS = 64
IN_FLIGHT = 32
LIMIT = 2  # max_in_flight of the flow-control measurement


async def _drive(
    runtime: KafkaAgentRuntime, total: int, spin_ms: float
) -> tuple[float, dict[int, int]]:
    """Throughput over ``total`` requests, and how many each worker process handled."""
    handled: collections.Counter[int] = collections.Counter()
    remaining = total

    async def caller(start: int) -> None:
        nonlocal remaining
        n = start
        while remaining > 0:
            remaining -= 1
            done: Done = await runtime.send_message(
                Work(spin_ms=spin_ms), AgentId("cpu", f"k{n % KEYS}")
            )
            handled[done.pid] += 1
            n += IN_FLIGHT

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(caller(i) for i in range(IN_FLIGHT))), 300)
    return total / (time.perf_counter() - started), dict(handled)


def _workers(
    stack: KafkaStack, count: int, max_in_flight: int | None = None
) -> tuple[str, list[Worker]]:
    prefix = f"scale{count}-{uuid.uuid4().hex[:6]}"
    common = {
        "stack": stack_dict(stack),
        "prefix": prefix,
        "partitions": PARTITIONS,
        "max_in_flight": max_in_flight,
    }
    workers = [
        Worker("akx", **common, worker=f"cpu-worker-{i}", roles=["cpu"]) for i in range(count)
    ]
    return prefix, workers


async def _measure(
    stack: KafkaStack, sizes: Sizes, workers: int, bar: Any, max_in_flight: int | None = None
) -> dict[str, Any]:
    """Start ``workers`` worker processes, measure them, stop them."""
    prefix, processes = _workers(stack, workers, max_in_flight)
    start_workers(*processes)
    try:
        return await _drive_workers(stack, sizes, prefix, workers, bar)
    finally:
        stop_workers(*processes)


async def _drive_workers(
    stack: KafkaStack, sizes: Sizes, prefix: str, workers: int, bar: Any
) -> dict[str, Any]:
    runtime = KafkaAgentRuntime(runtime_config(stack, prefix, "caller", partitions=PARTITIONS))
    await runtime.start()
    try:
        # Warm up until every worker has answered: the group has split the partitions.
        deadline = time.monotonic() + 60
        while True:
            _rate, seen = await _drive(
                runtime, max(IN_FLIGHT, sizes.scaling_requests // 4), sizes.spin_ms
            )
            if len(seen) >= workers or time.monotonic() > deadline:
                break
        await asyncio.sleep(0.5)  # let a rebalance still settling finish
        bar.update()
        rate, handled = await _drive(runtime, sizes.scaling_requests, sizes.spin_ms)
        bar.update()
    finally:
        await runtime.stop()
    return {"rps": rate, "per_worker": sorted(handled.values(), reverse=True)}


async def run(stack: KafkaStack, sizes: Sizes) -> dict[str, Any]:
    # One set of workers at a time: an idle runtime is not free on the embedded broker
    # (its consumers' empty fetches cost the broker ~9 % of a core each), which would
    # take CPU from the set being measured.
    with progress.bar(6, "scaling") as bar:
        one = await _measure(stack, sizes, 1, bar)
        two = await _measure(stack, sizes, 2, bar)
        limited = await _measure(stack, sizes, 1, bar, max_in_flight=LIMIT)
    return {
        "spin_ms": sizes.spin_ms,
        "partitions": PARTITIONS,
        "in_flight": IN_FLIGHT,
        "requests": sizes.scaling_requests,
        "one_worker": one,
        "two_workers": two,
        "ratio": ratio(two["rps"], one["rps"]),
        "limited_one_worker": {**limited, "max_in_flight": LIMIT},
        "ratio_limited": ratio(limited["rps"], one["rps"]),
    }
