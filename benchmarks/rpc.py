"""RPC latency and throughput: KafkaAgentRuntime vs raw confluent-kafka vs autogen-ext gRPC.

All three run the same shape: the caller in this process, the echo agent (or echo
service) in another OS process, the same 200-character payload. The gRPC runtime also
has its host in a third process. Latency is measured one call at a time, the three
clients taking turns in rounds; throughput with N callers in flight, clients taking
turns at every level. Each turn starts its client and the processes serving it and
stops them at its end, so no idle client polls the broker during another's turn.

    uv run python -m benchmarks rpc [--quick]     # or: uv run python benchmarks/rpc.py
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a script: import this file as part of its package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "benchmarks"

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from autogen_core import AgentId
from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from akx_dev import KafkaStack
from akx_runtime import KafkaAgentRuntime

from ._agents import Echo
from ._common import (
    Sizes,
    Worker,
    has_journal_switch,
    median_of_turns,
    pct,
    progress,
    runtime_config,
    stack_dict,
    start_workers,
    stop_workers,
)
from ._grpc import grpc_client

Call = Callable[[], Awaitable[Any]]

# For the scaling figures in the README: payload size and request-topic partitions.
PAYLOAD = "x" * int(os.environ.get("AKX_BENCH_PAYLOAD", "200"))
PARTITIONS = int(os.environ.get("AKX_BENCH_PARTITIONS", "1"))
CLIENTS = ("raw", "akx", "grpc")
#: Calls made before each turn's measurement: connections, group assignment, caches.
WARM_UP = 20


class RawCaller:
    """Request/reply with plain confluent-kafka and the best low-latency settings."""

    def __init__(self, stack: KafkaStack, prefix: str) -> None:
        self.reply_topic = f"{prefix}-raw-reply"
        self.request_topic = f"{prefix}-raw-req"
        self.producer = Producer(
            {
                "bootstrap.servers": stack.bootstrap_servers,
                "enable.idempotence": True,
                **stack.producer_settings(),
            }
        )
        self.consumer = Consumer(
            {
                "bootstrap.servers": stack.bootstrap_servers,
                "group.id": f"{prefix}-raw-caller",
                **stack.consumer_settings(),
            }
        )
        self.consumer.list_topics(self.reply_topic, timeout=10)
        self.consumer.assign([TopicPartition(self.reply_topic, 0, OFFSET_END)])
        self.pending: dict[bytes, asyncio.Future[bytes]] = {}
        self.loop = asyncio.get_running_loop()
        self.running = True
        self.thread = self.loop.run_in_executor(None, self._read)

    def _read(self) -> None:
        # One loop wake-up per batch of replies, as akx does.
        while self.running:
            first = self.consumer.poll(0.05)
            if first is None:
                continue
            replies: list[tuple[bytes, bytes]] = []
            for message in [first, *self.consumer.consume(499, 0)]:
                if message.error() is not None:
                    continue
                headers = cast("dict[str, bytes]", dict(message.headers() or []))
                replies.append((headers["correlation-id"], cast(bytes, message.value())))
            self.loop.call_soon_threadsafe(self._settle, replies)

    def _settle(self, replies: list[tuple[bytes, bytes]]) -> None:
        for correlation, value in replies:
            future = self.pending.pop(correlation, None)
            if future is not None and not future.done():
                future.set_result(value)

    async def call(self, payload: str) -> bytes:
        correlation = uuid.uuid4().hex.encode()
        future = self.loop.create_future()
        self.pending[correlation] = future
        self.producer.produce(
            self.request_topic,
            payload.encode(),
            key=correlation,
            headers=[("correlation-id", correlation), ("reply-to", self.reply_topic.encode())],
        )
        self.producer.poll(0)
        return await future

    async def close(self) -> None:
        self.running = False
        await self.thread
        self.consumer.close()
        self.producer.flush(5)


STALL_SECONDS = 120.0


async def measure_latency(call: Call, count: int) -> list[float]:
    """Milliseconds per call, one at a time.

    A call that takes longer than ``STALL_SECONDS`` (the embedded broker's fetch stalls,
    see the README) is abandoned and recorded as taking that long, so the run goes on
    and the stall shows in p99.
    """
    samples: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        task = asyncio.ensure_future(call())
        done, _pending = await asyncio.wait([task], timeout=STALL_SECONDS)
        if not done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        else:
            task.result()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def measure_throughput(call: Call, concurrency: int, total: int, timeout: float) -> float:
    """Requests per second with ``concurrency`` callers until ``total`` calls are done.

    Bounded by ``timeout`` seconds: a client that stalls yields NaN instead of hanging
    the whole run.
    """
    remaining = total
    done = 0

    async def caller() -> None:
        nonlocal remaining, done
        while remaining > 0:
            remaining -= 1
            await call()
            done += 1

    started = time.perf_counter()
    tasks = [asyncio.ensure_future(caller()) for _ in range(concurrency)]
    finished, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in finished:
        task.result()  # a failed call fails the section
    if pending:
        return float("nan")
    return done / (time.perf_counter() - started)


def _requests_at(sizes: Sizes, level: int) -> int:
    # Few callers are latency-bound: 500 calls say as much as 3,000, in a sixth of the time.
    return min(sizes.per_level, max(500, 40 * level))


def _clients(sizes: Sizes) -> tuple[str, ...]:
    # Without the journal: the runtime's processed-request log off, to show its cost.
    # Not in smoke runs (one more process to start).
    extra = ("akx_nojournal",) if sizes.mode != "smoke" and has_journal_switch() else ()
    return (*CLIENTS, *extra)


def _create_raw_topics(stack: KafkaStack, prefix: str) -> None:
    admin = AdminClient({"bootstrap.servers": stack.bootstrap_servers})
    for topic in (f"{prefix}-raw-req", f"{prefix}-raw-reply"):
        partitions = PARTITIONS if topic.endswith("-req") else 1
        admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(10)


@dataclass
class Turn:
    """One client made ready for a turn: how to call it, and the processes serving it."""

    call: Call
    serving: list[Worker]


@contextlib.asynccontextmanager
async def client_turn(stack: KafkaStack, prefix: str, name: str) -> AsyncIterator[Turn]:
    """Start one client and the processes serving it; stop them all when the turn ends.

    Only one client is alive at a time: an idle Kafka consumer makes the embedded
    broker answer an empty fetch every ``fetch.wait.max.ms`` (~0.1 core each, see the
    README), so idle clients kept alive would take CPU from the measured one. Each
    turn has topics of its own (``prefix`` plus a turn id): the embedded broker
    slows down as a partition grows (a raw request/reply loop fell from 4,384 to
    852 calls/s over six turns on the same topics), so reused topics would make later
    turns slower than earlier ones.
    """
    prefix = f"{prefix}-{uuid.uuid4().hex[:4]}"
    recipient = AgentId("echo", "default")
    message = Echo(text=PAYLOAD)
    if name == "raw":
        _create_raw_topics(stack, prefix)
        workers = [Worker("raw-echo", stack=stack_dict(stack), prefix=prefix)]
        start_workers(*workers)
        raw = RawCaller(stack, prefix)
        try:
            yield Turn(lambda: raw.call(PAYLOAD), workers)
        finally:
            await raw.close()
            stop_workers(*workers)
    elif name in ("akx", "akx_nojournal"):
        # None: the journal as AKX_BENCH_JOURNAL says (on by default).
        journal = None if name == "akx" else False
        own = prefix if name == "akx" else f"{prefix}-nj"
        common = {"stack": stack_dict(stack), "prefix": own, "partitions": PARTITIONS}
        workers = [Worker("akx", **common, worker="echo-worker", roles=["echo"], journal=journal)]
        start_workers(*workers)
        runtime = KafkaAgentRuntime(
            runtime_config(stack, own, "caller", partitions=PARTITIONS, journal=journal)
        )
        try:
            await runtime.start()
            yield Turn(lambda: runtime.send_message(message, recipient), workers)
        finally:
            await runtime.stop()
            stop_workers(*workers)
    else:
        async with grpc_client("echo") as (grpc, workers):
            # The gRPC runtime counts its host, which relays every message.
            yield Turn(lambda: grpc.send_message(message, recipient), workers)


async def run(stack: KafkaStack, sizes: Sizes) -> dict[str, Any]:
    prefix = f"rpc-{uuid.uuid4().hex[:6]}"
    clients = _clients(sizes)
    n = len(clients)
    rounds = sizes.latency_rounds
    repeats = sizes.throughput_repeats
    steps = rounds * n + repeats * len(sizes.levels) * n
    latency: dict[str, list[float]] = {name: [] for name in clients}
    rates: dict[str, dict[str, list[float]]] = {
        name: {str(level): [] for level in sizes.levels} for name in clients
    }
    cpu_seconds: dict[str, list[float]] = {name: [] for name in clients}
    with progress.bar(steps, "rpc") as bar:
        # Take turns in rounds, so drift in machine load hits all clients alike.
        for _ in range(rounds):
            for name in clients:
                async with client_turn(stack, prefix, name) as turn:
                    await measure_latency(turn.call, WARM_UP)
                    latency[name] += await measure_latency(turn.call, sizes.latency_count // rounds)
                bar.update()
        turn_number = 0
        for _ in range(repeats):
            for level in sizes.levels:
                shift = turn_number % n
                turn_number += 1
                for name in clients[shift:] + clients[:shift]:
                    bar.set_postfix_str(f"{name} x{level}")
                    count = _requests_at(sizes, level)
                    async with client_turn(stack, prefix, name) as turn:
                        await measure_latency(turn.call, WARM_UP)
                        before = _cpu(turn.serving)
                        rate = await measure_throughput(
                            turn.call, level, count, timeout=STALL_SECONDS
                        )
                        after = _cpu(turn.serving)
                    rates[name][str(level)].append(rate)
                    if level == max(sizes.levels) and before is not None and after is not None:
                        cpu_seconds[name].append(after - before)
                    bar.update()
    top = _requests_at(sizes, max(sizes.levels))
    # Below one clock tick (10 ms) in all turns the reading says nothing: n/a.
    cpu_us = {
        name: (sum(used) / (len(used) * top) * 1e6 if sum(used) else None)
        for name, used in cpu_seconds.items()
    }
    return {
        "payload_chars": len(PAYLOAD),
        "partitions": PARTITIONS,
        "latency_ms": {
            name: {"p50": pct(s, 0.5), "p99": pct(s, 0.99), "samples": [round(x, 3) for x in s]}
            for name, s in latency.items()
        },
        # The median of each client's turns at a level (NaN when a turn stalled: a
        # stall is a failure, not an outlier to hide).
        "throughput_rps": {
            name: {level: median_of_turns(samples) for level, samples in by_level.items()}
            for name, by_level in rates.items()
        },
        "throughput_samples": rates,
        "levels": list(sizes.levels),
        # CPU (all threads) of the serving processes per request at the most callers,
        # where idle fetch polling is negligible: less load-sensitive than wall time.
        "server_cpu_us_per_request": cpu_us,
        "requests_per_level": {str(level): _requests_at(sizes, level) for level in sizes.levels},
    }


def _cpu(workers: list[Worker]) -> float | None:
    seconds = [w.cpu_seconds() for w in workers]
    return None if None in seconds else sum(s for s in seconds if s is not None)


if __name__ == "__main__":
    from .__main__ import main

    raise SystemExit(main(["rpc", *sys.argv[1:]]))
