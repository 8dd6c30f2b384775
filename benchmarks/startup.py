"""Start-up: how soon a fresh runtime can call an agent that another process serves.

An echo worker process is started once and warmed up (its consumer group has joined).
Then, several times over, a new caller ``KafkaAgentRuntime`` is created and started,
and it makes three calls one after another; the section reports how long ``start()`` took and
how long the first and the following calls took. No target: the first call used to
wait ~1 s for the idempotent producer's id (see the fourth round of findings).
"""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

from autogen_core import AgentId

from akx_dev import KafkaStack
from akx_runtime import KafkaAgentRuntime

from ._agents import Echo
from ._common import (
    Sizes,
    Worker,
    progress,
    runtime_config,
    stack_dict,
    start_workers,
    stop_workers,
)


async def _fresh_caller(stack: KafkaStack, prefix: str, name: str) -> tuple[float, list[float]]:
    """start() seconds, then the seconds of three calls made one after another."""
    runtime = KafkaAgentRuntime(runtime_config(stack, prefix, name))
    began = time.perf_counter()
    await runtime.start()
    started = time.perf_counter() - began
    calls: list[float] = []
    try:
        for n in range(3):
            began = time.perf_counter()
            reply = await runtime.send_message(Echo(text=f"hi {n}"), AgentId("echo", "k"))
            calls.append(time.perf_counter() - began)
            assert isinstance(reply, Echo)
    finally:
        await runtime.stop()
    return started, calls


async def run(stack: KafkaStack, sizes: Sizes) -> dict[str, Any]:
    prefix = f"startup-{uuid.uuid4().hex[:6]}"
    worker = Worker("akx", stack=stack_dict(stack), prefix=prefix, worker="echo", roles=["echo"])
    start_workers(worker)
    rounds = sizes.startup_rounds
    starts: list[float] = []
    firsts: list[float] = []
    laters: list[float] = []
    try:
        with progress.bar(rounds + 1, "startup") as bar:
            # The warm-up's first call also waits for the worker's group to join.
            await _fresh_caller(stack, prefix, "warm-up")
            bar.update()
            for n in range(rounds):
                started, calls = await _fresh_caller(stack, prefix, f"caller-{n}")
                starts.append(started)
                firsts.append(calls[0])
                laters.extend(calls[1:])
                bar.update()
    finally:
        stop_workers(worker)
    return {
        "rounds": rounds,
        "start_ms": _ms(starts),
        "first_call_ms": _ms(firsts),
        "later_call_ms": _ms(laters),
    }


def _ms(samples: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(samples) * 1e3,
        "max": max(samples) * 1e3,
    }
