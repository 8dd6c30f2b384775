"""RPC latency and throughput: KafkaAgentRuntime vs raw confluent-kafka request/reply.

Both sides run the same shape on the same broker: the caller in this process, the echo
handler in a second OS process, one request topic, one reply topic, the same payload.
Measured side by side in one run, reported as ratios (the machine is noisy).

    uv run python benchmarks/rpc.py            # full run
    uv run python benchmarks/rpc.py --quick    # smoke check
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, cast

from autogen_core import AgentId, BaseAgent, MessageContext
from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from akx_dev import KafkaStack, open_stack
from akx_events import KafkaConfig, SchemaRegistryConfig
from akx_runtime import KafkaAgentRuntime, KafkaAgentRuntimeConfig

PAYLOAD = "x" * 200


class EchoAgent(BaseAgent):
    def __init__(self) -> None:
        super().__init__("echo")

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> Any:
        return message


def runtime_config(stack: KafkaStack, prefix: str, worker: str) -> KafkaAgentRuntimeConfig:
    kafka = KafkaConfig(
        name=worker,
        group_id=f"{prefix}-group",
        client_id=worker,
        bootstrap_servers=stack.bootstrap_servers,
        schema_registry_config=SchemaRegistryConfig(url=stack.schema_registry_url),
        num_partitions=1,
        consumer_extra=stack.consumer_settings(),
        producer_extra=stack.producer_settings(),
    )
    return KafkaAgentRuntimeConfig(
        kafka_config=kafka,
        request_topic=f"{prefix}-req",
        response_topic=f"{prefix}-resp",
        registry_topic=f"{prefix}-registry",
        subscription_topic=f"{prefix}-subs",
        publish_topic=f"{prefix}-pub",
        request_timeout=30,
        worker_id=worker,
    )


# ----------------------------------------------------------------- worker processes


async def serve_akx(stack: KafkaStack, prefix: str) -> None:
    runtime = KafkaAgentRuntime(runtime_config(stack, prefix, "echo-worker"))
    await runtime.register_factory("echo", EchoAgent)
    await runtime.start()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runtime.stop()


def serve_raw(stack: KafkaStack, prefix: str) -> None:
    consumer = Consumer(
        {
            "bootstrap.servers": stack.bootstrap_servers,
            "group.id": f"{prefix}-raw-service",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
            **stack.consumer_settings(),
        }
    )
    producer = Producer(
        {
            "bootstrap.servers": stack.bootstrap_servers,
            "enable.idempotence": True,
            **stack.producer_settings(),
        }
    )
    consumer.subscribe([f"{prefix}-raw-req"])
    print("ready", flush=True)
    closed = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), closed.set()), daemon=True).start()
    while not closed.is_set():
        message = consumer.poll(0.1)
        if message is None or message.error() is not None:
            continue
        headers = cast("dict[str, bytes]", dict(message.headers() or []))
        producer.produce(
            headers["reply-to"].decode(),
            message.value(),
            key=message.key(),
            headers=[("correlation-id", headers["correlation-id"])],
        )
        producer.poll(0)
    producer.flush(5)
    consumer.close()


def start_worker(kind: str, stack: KafkaStack, prefix: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            kind,
            "--stack",
            json.dumps(stack_dict(stack)),
            "--prefix",
            prefix,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        raise RuntimeError(f"{kind} worker did not start")
    return process


def stop_worker(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.close()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def stack_dict(stack: KafkaStack) -> dict[str, str]:
    return {
        "bootstrap_servers": stack.bootstrap_servers,
        "schema_registry_url": stack.schema_registry_url,
        "kind": stack.kind,
    }


# ------------------------------------------------------------------------- callers


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
        while self.running:
            message = self.consumer.poll(0.05)
            if message is None or message.error() is not None:
                continue
            correlation = cast("dict[str, bytes]", dict(message.headers() or []))["correlation-id"]
            value = cast(bytes, message.value())
            self.loop.call_soon_threadsafe(self._settle, correlation, value)

    def _settle(self, correlation: bytes, value: bytes) -> None:
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


async def measure_latency(call: Callable[[], Awaitable[Any]], count: int) -> list[float]:
    for _ in range(20):  # warm up: connections, group assignment, schema caches
        await call()
    samples: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def measure_throughput(
    call: Callable[[], Awaitable[Any]], concurrency: int, total: int
) -> float:
    remaining = total

    async def caller() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(quick: bool) -> dict[str, Any]:
    count = 200 if quick else 2000
    levels = [1, 8, 64] if quick else [1, 8, 64, 256]
    levels = [int(x) for x in os.environ.get("AKX_BENCH_LEVELS", "").split(",") if x] or levels
    total = 300 if quick else 3000
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    results: dict[str, Any] = {}
    with ExitStack() as stack_scope:
        stack = stack_scope.enter_context(open_stack(allow_containers=False))
        admin = AdminClient({"bootstrap.servers": stack.bootstrap_servers})
        for topic in (f"{prefix}-raw-req", f"{prefix}-raw-reply"):
            admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(10)
        raw_worker = start_worker("raw", stack, prefix)
        akx_worker = start_worker("akx", stack, prefix)
        try:
            raw = RawCaller(stack, prefix)
            runtime = KafkaAgentRuntime(runtime_config(stack, prefix, "caller"))
            await runtime.start()
            recipient = AgentId("echo", "default")

            async def akx_call() -> Any:
                return await runtime.send_message(PAYLOAD, recipient)

            async def raw_call() -> Any:
                return await raw.call(PAYLOAD)

            # Interleave the two, in rounds, so drift in machine load hits both alike.
            akx_lat: list[float] = []
            raw_lat: list[float] = []
            for _ in range(4):
                raw_lat += await measure_latency(raw_call, count // 4)
                akx_lat += await measure_latency(akx_call, count // 4)
            results["latency_ms"] = {
                "raw": {"p50": pct(raw_lat, 0.5), "p99": pct(raw_lat, 0.99)},
                "akx": {"p50": pct(akx_lat, 0.5), "p99": pct(akx_lat, 0.99)},
            }
            results["throughput_rps"] = {}
            for level in levels:
                raw_rps = await measure_throughput(raw_call, level, total)
                akx_rps = await measure_throughput(akx_call, level, total)
                results["throughput_rps"][level] = {"raw": raw_rps, "akx": akx_rps}
            await runtime.stop()
            await raw.close()
        finally:
            stop_worker(raw_worker)
            stop_worker(akx_worker)
    return results


def report(results: dict[str, Any]) -> None:
    lat = results["latency_ms"]
    print("RPC latency, sequential, 200-byte payload (ms)")
    print(f"{'':8}{'p50':>8}{'p99':>8}")
    for name in ("raw", "akx"):
        print(f"{name:8}{lat[name]['p50']:8.2f}{lat[name]['p99']:8.2f}")
    print(
        f"{'ratio':8}{lat['akx']['p50'] / lat['raw']['p50']:7.2f}x"
        f"{lat['akx']['p99'] / lat['raw']['p99']:7.2f}x   (targets: p50 <= 1.3x, p99 <= 2x)"
    )
    print()
    print("RPC throughput (requests/s) by concurrent callers")
    print(f"{'callers':>8}{'raw':>10}{'akx':>10}{'ratio':>8}")
    for level, row in results["throughput_rps"].items():
        print(f"{level:>8}{row['raw']:10.0f}{row['akx']:10.0f}{row['akx'] / row['raw']:7.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, for CI smoke runs")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--serve", choices=["akx", "raw"], help=argparse.SUPPRESS)
    parser.add_argument("--stack", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        stack = KafkaStack(**json.loads(args.stack))
        if args.serve == "akx":
            asyncio.run(serve_akx(stack, args.prefix))
        else:
            serve_raw(stack, args.prefix)
        return
    results = asyncio.run(run(args.quick))
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
