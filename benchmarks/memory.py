"""KafkaMemory benchmark: replay rate and add -> visible-elsewhere lag.

Run: ``uv run python benchmarks/memory.py [--quick]`` (embedded broker unless
``AKX_BOOTSTRAP_SERVERS`` / ``AKX_SCHEMA_REGISTRY_URL`` name a cluster).

- replay: 100,000 text entries (``--quick``: 10,000) with metadata are written to a
  one-partition memory topic the way ``KafkaMemory.add`` writes them (pipelined, not
  one at a time); then a new ``KafkaMemory`` is started and timed until ``start()``
  returns (replay complete, queries possible). Best of three. A second row puts as
  many records of another session on the same partition, which the replay must skip.
- first query: the query right after the replay, which decodes the filed records and
  builds the BM25 index; then the same query again on unchanged contents.
- lag: a writer in another OS process adds entries one at a time, every 10 ms; the
  reader in this process records, for each, the time from the writer stamping the
  record to this instance applying it (``KafkaMemory.lag``). The writer reports the
  time its ``add`` took to return (the broker's acknowledgement).

Target: replay >= 50,000 entries/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from autogen_core.memory import MemoryContent, MemoryMimeType

from akx_dev import KafkaStack, open_stack
from akx_events import AsyncProducer, EventSerde, KafkaConfig, MemoryEvent, SchemaRegistryConfig
from akx_memory import KafkaMemory, KafkaMemoryConfig, encode_content
from akx_memory._changelog import partition_for

TARGET_RATE = 50_000


def kafka_config(settings: dict[str, Any], name: str) -> KafkaConfig:
    return KafkaConfig(
        name=name,
        group_id="akx-memory-bench",
        client_id=name,
        bootstrap_servers=settings["bootstrap"],
        schema_registry_config=SchemaRegistryConfig(url=settings["registry"]),
        consumer_extra=settings["consumer"],
        producer_extra=settings["producer"],
    )


def memory_config(settings: dict[str, Any], topic: str, name: str) -> KafkaMemoryConfig:
    return KafkaMemoryConfig(
        kafka_config=kafka_config(settings, name),
        memory_topic=topic,
        topic_partitions=1,
        start_timeout=300,
    )


async def populate(settings: dict[str, Any], topic: str, sessions: list[str], count: int) -> None:
    """Write ``count`` entries per session, interleaved, as KafkaMemory writes them."""
    kafka = kafka_config(settings, "bench-writer")
    assert kafka.schema_registry_config is not None
    serde = EventSerde(kafka.schema_registry_config, source="akx-memory/bench-writer")
    await serde.prepare()
    producer = AsyncProducer(kafka.producer_config() | {"linger.ms": 5})
    await producer.start()
    pending: list[asyncio.Future[Any]] = []
    for i in range(count):
        content = MemoryContent(
            content=f"note {i}: customer {i % 997} asked about invoice {i % 89} and topic {i % 97}",
            mime_type=MemoryMimeType.TEXT,
            metadata={"i": i, "source": "bench"},
        )
        encoded = encode_content(content)
        for session in sessions:
            memory_id = uuid.uuid4().hex
            event = MemoryEvent(
                session_id=session,
                action="add",
                memory_id=memory_id,
                content=encoded.data,
                mime_type=encoded.mime_type,
                metadata_json=encoded.metadata_json,
                source="akx-memory/bench-writer",
                time=datetime.now(timezone.utc),
            )
            value, headers = serde.encode(
                event, topic=topic, extra_headers=[("akx-memory-form", encoded.form)]
            )
            key = f"{session}/{memory_id}".encode()
            while True:
                try:
                    pending.append(
                        producer.produce(topic, value, key=key, headers=headers, partition=0)
                    )
                    break
                except Exception:  # local queue full: let deliveries drain
                    await asyncio.sleep(0.01)
        if len(pending) >= 20_000:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    await producer.stop()
    serde.close()


async def replay(settings: dict[str, Any], topic: str, count: int) -> dict[str, float]:
    """Best-of-three start-up replay, and the first and second query after one."""
    best = float("inf")
    first_query = second_query = 0.0
    for _ in range(3):
        memory = KafkaMemory(memory_config(settings, topic, "bench-reader"), "bench")
        started = time.perf_counter()
        await memory.start()
        best = min(best, time.perf_counter() - started)
        queried = time.perf_counter()
        result = await memory.query("invoice 42 topic", k=5)
        first_query = time.perf_counter() - queried
        queried = time.perf_counter()
        await memory.query("invoice 42 topic", k=5)
        second_query = time.perf_counter() - queried
        assert len(memory) == count and len(result.results) == 5
        await memory.close()
    return {"seconds": best, "rate": count / best, "first": first_query, "second": second_query}


async def writer(settings: dict[str, Any]) -> None:
    """The lag writer (run in its own process): timed adds, one every 10 ms."""
    config = memory_config(settings, settings["topic"], "bench-lag-writer")
    async with KafkaMemory(config, "lag") as memory:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        acks: list[float] = []
        for i in range(settings["count"]):
            started = time.perf_counter()
            await memory.add(MemoryContent(content=f"lag probe {i}", mime_type="text/plain"))
            acks.append(time.perf_counter() - started)
            await asyncio.sleep(0.01)
        print(json.dumps(acks), flush=True)


async def lag(settings: dict[str, Any], count: int) -> dict[str, float]:
    topic = f"bench-lag-{uuid.uuid4().hex[:8]}"
    values = {**settings, "topic": topic, "count": count}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--writer",
        json.dumps(values),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        assert (await process.stdout.readline()).strip() == b"ready"
        config = memory_config(settings, topic, "bench-lag-reader")
        async with KafkaMemory(config, "lag") as reader:
            process.stdin.write(b"go\n")
            await process.stdin.drain()
            acks: list[float] = json.loads(await process.stdout.readline())
            deadline = time.monotonic() + 30
            while reader.lag.count < count and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            lag_ms = [reader.lag.percentile(q) or 0.0 for q in (50, 99)]
            samples = reader.lag.count
    finally:
        process.stdin.close()
        await asyncio.wait_for(process.wait(), 30)
    ack_ms = sorted(acks)
    return {
        "lag_p50": lag_ms[0] * 1e3,
        "lag_p99": lag_ms[1] * 1e3,
        "ack_p50": statistics.median(ack_ms) * 1e3,
        "ack_p99": ack_ms[max(0, round(0.99 * len(ack_ms)) - 1)] * 1e3,
        "samples": samples,
    }


def settings_for(stack: KafkaStack) -> dict[str, Any]:
    return {
        "bootstrap": stack.bootstrap_servers,
        "registry": stack.schema_registry_url,
        "consumer": stack.consumer_settings(),
        "producer": stack.producer_settings(),
    }


async def measure(stack: KafkaStack, count: int, probes: int) -> dict[str, Any]:
    """Replay rates (alone and with another session between) and add -> visible lag."""
    settings = settings_for(stack)
    alone = f"bench-replay-{uuid.uuid4().hex[:8]}"
    mixed = f"bench-mixed-{uuid.uuid4().hex[:8]}"
    async with KafkaMemory(memory_config(settings, alone, "bench-init"), "init"):
        pass  # creates the topic with one partition
    async with KafkaMemory(memory_config(settings, mixed, "bench-init"), "init"):
        pass
    assert partition_for("bench", 1) == partition_for("other", 1) == 0
    await populate(settings, alone, ["bench"], count)
    await populate(settings, mixed, ["bench", "other"], count)
    one = await replay(settings, alone, count)
    two = await replay(settings, mixed, count)
    lags = await lag(settings, probes)
    return {
        "entries": count,
        "replay": one,
        "replay_mixed": two,
        "lag_ms": lags,
        "target_rate": TARGET_RATE,
    }


def report(results: dict[str, Any]) -> None:
    count, one, two, lags = (
        results["entries"],
        results["replay"],
        results["replay_mixed"],
        results["lag_ms"],
    )
    rows = [
        (
            f"replay {count:,} entries (start() until replayed)",
            f"{one['seconds']:.2f} s",
            f"{one['rate']:,.0f} entries/s",
        ),
        (
            f"  same, with {count:,} records of another session between",
            f"{two['seconds']:.2f} s",
            f"{two['rate']:,.0f} entries/s",
        ),
        ("first query after the replay (decode + BM25 index)", f"{one['first']:.2f} s", ""),
        ("next query, contents unchanged", f"{one['second'] * 1e3:.1f} ms", ""),
        (
            f"add -> visible in another process, p50 / p99 ({lags['samples']:.0f} adds)",
            f"{lags['lag_p50']:.1f} / {lags['lag_p99']:.1f} ms",
            "",
        ),
        (
            "add until acknowledged (writer), p50 / p99",
            f"{lags['ack_p50']:.1f} / {lags['ack_p99']:.1f} ms",
            "",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  {'time':>16}  {'rate':>18}")
    for name, timing, rate in rows:
        print(f"{name:<{width}}  {timing:>16}  {rate:>18}")
    verdict = "met" if one["rate"] >= TARGET_RATE else "NOT met"
    print(f"\ntarget replay >= {TARGET_RATE:,} entries/s: {verdict} ({one['rate']:,.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description="KafkaMemory replay and lag benchmark")
    parser.add_argument("--quick", action="store_true", help="10,000 entries, 100 lag probes")
    parser.add_argument("--writer", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        asyncio.run(writer(json.loads(args.writer)))
        return
    count, probes = (10_000, 100) if args.quick else (100_000, 500)
    with open_stack(allow_containers=False) as stack:
        report(asyncio.run(measure(stack, count, probes)))


if __name__ == "__main__":
    main()
