"""Bridge benchmark: KafkaStreamingAgent round trips vs raw confluent-kafka request/reply.

Run: ``uv run python benchmarks/bridge.py [--quick]``

One broker (the akx-dev stack: ``AKX_BOOTSTRAP_SERVERS`` if set, else containers or the
embedded broker), one external service in a **separate OS process** (this file with
``--serve``, plain confluent-kafka + fastavro, following the record contract of the
akx-bridge README), three clients in this process taking turns request by request:

- bridge: ``runtime.send_message(request, bridge_id)`` through a
  ``SingleThreadedAgentRuntime`` hosting a ``KafkaStreamingAgent``;
- the same agent type called directly (``on_message``), without the runtime;
- raw: a confluent-kafka ``Producer`` + ``Consumer`` doing the same request/reply by hand,
  encoding the same Avro value (fastavro) with the same headers.

All use the same service, payload, partition count and client settings. Each round has
fresh topics, a pair per client, and a service process of its own (the embedded broker
slows down as partitions grow, so shared or reused topics would favour one client). Latency is
measured one request at a time; throughput is a burst of requests all in flight at
once. A last row (not in --quick) measures the bridge against akx's own
``RequestProcessor`` (transactional) in a separate process.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import json
import os
import statistics
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fastavro
from autogen_core import AgentId, CancellationToken, MessageContext, SingleThreadedAgentRuntime
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient

from akx_bridge import KafkaAgentConfig, KafkaMessageType, KafkaStreamingAgent, serve
from akx_dev import KafkaStack, open_stack
from akx_events import KafkaConfig, SchemaRegistryConfig, avro_schema_for

PARTITIONS = 3
RAW = "raw confluent-kafka request/reply"
DIRECT = "KafkaStreamingAgent.on_message"
RUNTIME = "bridge via runtime.send_message"
NAMESPACE = "akx.benchmarks.bridge"
TEXT = ("The quick brown fox jumps over the lazy dog while the market rallies. " * 3)[:200]


@dataclass
class SentimentRequest(KafkaMessageType):
    avro_namespace = NAMESPACE
    text: str
    language: str
    request_number: int


@dataclass
class SentimentResponse(KafkaMessageType):
    avro_namespace = NAMESPACE
    sentiment: str
    score: float
    request_number: int


def analyse(record: dict[str, Any]) -> dict[str, Any]:
    """The service's work, identical for both clients."""
    text = str(record["text"])
    score = (sum(map(ord, text[:32])) % 200 - 100) / 100.0
    label = "positive" if score > 0.2 else "negative" if score < -0.2 else "neutral"
    return {"sentiment": label, "score": score, "request_number": record["request_number"]}


async def handle(request: SentimentRequest) -> SentimentResponse:
    """The same work as :func:`analyse`, as an akx ``RequestProcessor`` handler."""
    answer = analyse({"text": request.text, "request_number": request.request_number})
    return SentimentResponse(**answer)


# --------------------------------------------------------------------- the service process


def header(message: Message, name: str) -> bytes | None:
    for key, value in message.headers() or []:
        if key == name:
            return value if isinstance(value, bytes) else None
    return None


def ready_records(consumer: Consumer, wait: float) -> list[Message]:
    """Records as soon as one is there: ``consume(n, t)`` would wait for all ``n``."""
    first = consumer.poll(wait)
    if first is None:
        return []
    return [first, *consumer.consume(499, 0)]


def assign_at_end(consumer: Consumer, topics: list[str]) -> None:
    """Assign every partition at its current end offset (pinned, not resolved lazily)."""
    assignment: list[TopicPartition] = []
    for topic in topics:
        for partition in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
            tp = TopicPartition(topic, partition)
            _low, high = consumer.get_watermark_offsets(tp, timeout=10)
            assignment.append(TopicPartition(topic, partition, high))
    consumer.assign(assignment)


class WireCodec:
    """Confluent wire format with fastavro; schemas fetched from the registry by id."""

    def __init__(self, registry_url: str) -> None:
        self._client = SchemaRegistryClient({"url": registry_url})
        self._by_id: dict[int, Any] = {}
        self._latest: dict[str, tuple[int, Any]] = {}

    def _parsed(self, schema_id: int) -> Any:
        parsed = self._by_id.get(schema_id)
        if parsed is None:
            schema = self._client.get_schema(schema_id)
            parsed = fastavro.parse_schema(json.loads(schema.schema_str or "{}"))
            self._by_id[schema_id] = parsed
        return parsed

    def latest(self, subject: str) -> tuple[int, Any]:
        found = self._latest.get(subject)
        if found is None:
            schema_id = self._client.get_latest_version(subject).schema_id
            assert schema_id is not None
            found = (schema_id, self._parsed(schema_id))
            self._latest[subject] = found
        return found

    def decode(self, value: bytes) -> dict[str, Any]:
        _magic, schema_id = struct.unpack(">bI", value[:5])
        return fastavro.schemaless_reader(io.BytesIO(value[5:]), self._parsed(schema_id), None)  # type: ignore[return-value]

    @staticmethod
    def encode(schema_id: int, parsed: Any, record: dict[str, Any]) -> bytes:
        stream = io.BytesIO()
        stream.write(struct.pack(">bI", 0, schema_id))
        fastavro.schemaless_writer(stream, parsed, record)
        return stream.getvalue()


def run_service(settings: dict[str, Any]) -> None:
    """The external service: plain confluent-kafka, the README contract, nothing from akx."""
    base = {"bootstrap.servers": settings["bootstrap"]}
    consumer = Consumer(
        {**base, "group.id": f"bench-service-{uuid.uuid4().hex}", **settings["consumer"]}
    )
    producer = Producer({**base, **settings["producer"]})
    codec = WireCodec(settings["registry"])
    assign_at_end(consumer, settings["request_topics"])
    print("ready", flush=True)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    while not stop.is_set():
        for message in ready_records(consumer, 0.05):
            if message.error() is not None:
                continue
            correlation_id = header(message, "correlation-id")
            reply_to = (header(message, "reply-to") or b"").decode()
            schema_id, parsed = codec.latest(f"{reply_to}-value")
            value = codec.encode(schema_id, parsed, analyse(codec.decode(message.value() or b"")))
            reply_headers = [
                ("correlation-id", correlation_id),
                ("content-type", b"application/avro"),
            ]
            producer.produce(reply_to, value, key=correlation_id, headers=reply_headers)
        producer.poll(0)
    producer.flush(10)
    consumer.close()


def run_processor_service(settings: dict[str, Any]) -> None:
    """akx's RequestProcessor (transactional) as the external service."""
    config = agent_config(settings, settings["processor_topics"], "bench-processor")

    async def main() -> None:
        task = asyncio.create_task(serve(config, handle))
        await asyncio.sleep(1.5)  # group join
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())


# ----------------------------------------------------------------------------- the clients


def agent_config(settings: dict[str, Any], topics: tuple[str, str], name: str) -> KafkaAgentConfig:
    kafka = KafkaConfig(
        name=name,
        group_id=f"{name}-{uuid.uuid4().hex[:6]}",
        client_id=name,
        bootstrap_servers=settings["bootstrap"],
        schema_registry_config=SchemaRegistryConfig(url=settings["registry"]),
        num_partitions=PARTITIONS,
        consumer_extra=settings["consumer"],
        producer_extra=settings["producer"],
    )
    return KafkaAgentConfig(
        kafka_config=kafka, request_topic=topics[0], response_topic=topics[1], request_timeout=30.0
    )


class RawClient:
    """Request/reply by hand with confluent-kafka: produce, then poll for the matching reply."""

    def __init__(self, settings: dict[str, Any], topics: tuple[str, str]) -> None:
        base = {"bootstrap.servers": settings["bootstrap"]}
        self._request_topic, self._reply_topic = topics
        self._producer = Producer({**base, **settings["producer"]})
        self._consumer = Consumer(
            {**base, "group.id": f"bench-raw-{uuid.uuid4().hex}", **settings["consumer"]}
        )
        assign_at_end(self._consumer, [self._reply_topic])
        codec = WireCodec(settings["registry"])
        self._codec = codec
        self._request = codec.latest(f"{self._request_topic}-value")
        self._prefix = uuid.uuid4().hex[:16]
        self._sequence = 0

    def _send(self, number: int) -> bytes:
        self._sequence += 1
        correlation_id = f"{self._prefix}.{self._sequence:x}".encode()
        record = {"text": TEXT, "language": "en", "request_number": number}
        value = self._codec.encode(*self._request, record)
        headers: list[tuple[str, str | bytes | None]] = [
            ("correlation-id", correlation_id),
            ("reply-to", self._reply_topic.encode()),
            ("content-type", b"application/avro"),
            ("ce_specversion", b"1.0"),
            ("ce_id", correlation_id),
            ("ce_source", b"akx://bench/raw"),
            ("ce_type", f"{NAMESPACE}.SentimentRequest".encode()),
        ]
        self._producer.produce(self._request_topic, value, key=correlation_id, headers=headers)
        self._producer.poll(0)
        return correlation_id

    def _collect(self, waiting: set[bytes]) -> None:
        while waiting:
            for message in ready_records(self._consumer, 1.0):
                if message.error() is None and header(message, "correlation-id") in waiting:
                    self._codec.decode(message.value() or b"")
                    waiting.discard(header(message, "correlation-id") or b"")

    def round_trip(self, number: int) -> None:
        self._collect({self._send(number)})

    def burst(self, count: int) -> None:
        self._collect({self._send(n) for n in range(count)})

    def close(self) -> None:
        self._consumer.close()
        self._producer.flush(10)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3

    return {
        "p50": at(0.50),
        "p90": at(0.90),
        "p99": at(0.99),
        "mean": statistics.fmean(ordered) * 1e3,
    }


def start_service(mode: str, settings: dict[str, Any]) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, __file__, mode, json.dumps(settings)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != "ready":
        process.kill()
        raise RuntimeError(f"service did not start: {line!r}")
    return process


def stop_service(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.write("stop\n")
    process.stdin.flush()
    process.wait(30)


async def timed(call: Callable[[], Any]) -> float:
    began = time.perf_counter()
    await call()
    return time.perf_counter() - began


def create_topics(bootstrap: str, names: list[str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(n, PARTITIONS) for n in names]).values():
        future.result(10)


async def measure(
    stack: KafkaStack, rounds: int, per_round: int, burst: int, mode: str
) -> dict[str, Any]:
    """Round-trip percentiles and burst rates of each client, measured in turns.

    Every round starts on fresh topics, one pair per client, with a service process of
    its own: the embedded broker slows down as a partition grows, so clients sharing
    topics, or topics reused round after round, would not be measured alike.
    """
    quick = mode != "full"
    warmup = {"smoke": 10, "quick": 30}.get(mode, 100)
    names = [RAW, DIRECT, RUNTIME]
    latencies: dict[str, list[float]] = {name: [] for name in names}
    bursts: dict[str, list[float]] = {name: [] for name in names}
    counters: dict[str, int] = {}
    foreign_us = 0.0
    settings: dict[str, Any] = {}
    for round_number in range(rounds):
        scene = await _Round.open(stack, round_number)
        settings = scene.settings
        try:
            # The first round warms the machine up; later ones only their new clients.
            for n in range(warmup if round_number == 0 else max(5, warmup // 5)):
                for name in names:
                    await scene.one_request[name](n)
            # One request of each client in turn, so the shared machine's slow phases
            # hit all alike; then one burst each, rotating who goes first.
            for n in range(per_round):
                for name in names:
                    latencies[name].append(await scene.one_request[name](n))
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                bursts[name].append(await scene.burst(name, burst))
            for agent in scene.agents:  # both bridge clients' counters, summed
                for key, value in dataclasses.asdict(agent.stats).items():
                    counters[key] = counters.get(key, 0) + int(value)
            if round_number == rounds - 1:
                foreign_us = await asyncio.to_thread(
                    foreign_reply_cost, settings, scene.topics[DIRECT][1]
                )
        finally:
            await scene.close()
    processor_times: list[float] = []
    if not quick:
        run_id = uuid.uuid4().hex[:6]
        processor_topics = (f"bench-{run_id}-proc-req", f"bench-{run_id}-proc-resp")
        processor_times = await _processor_row(
            {**settings, "processor_topics": processor_topics}, processor_topics, per_round * 2
        )

    stats = {name: percentiles(samples) for name, samples in latencies.items()}
    return {
        "stack": stack.kind,
        "partitions": PARTITIONS,
        "text_chars": len(TEXT),
        "round_trips": len(latencies[RAW]),
        "bursts": len(bursts[RAW]),
        "burst_size": burst,
        "fresh_topics_per_round": True,
        "latency_ms": stats,
        "burst_rps": {name: burst / statistics.median(times) for name, times in bursts.items()},
        "processor_ms": percentiles(processor_times) if processor_times else None,
        "foreign_reply_us": foreign_us,
        "counters": counters,
        "ratio_p50": stats[RUNTIME]["p50"] / stats[RAW]["p50"],
        "ratio_p99": stats[RUNTIME]["p99"] / stats[RAW]["p99"],
    }


class _Round:
    """One round's topics, service process and clients (see :func:`measure`)."""

    def __init__(self) -> None:
        self.settings: dict[str, Any] = {}
        self.topics: dict[str, tuple[str, str]] = {}
        self.runtime = SingleThreadedAgentRuntime()
        self.one_request: dict[str, Callable[[int], Any]] = {}
        self._service: subprocess.Popen[str] | None = None
        self._raw: RawClient | None = None
        self._agents: list[KafkaStreamingAgent[Any, Any]] = []
        self._calls: dict[str, Callable[[int], Any]] = {}

    @classmethod
    async def open(cls, stack: KafkaStack, round_number: int) -> _Round:
        scene = cls()
        try:
            await scene._open(stack, round_number)
        except BaseException:
            await scene.close()
            raise
        return scene

    async def _open(self, stack: KafkaStack, round_number: int) -> None:
        run_id = f"{uuid.uuid4().hex[:6]}-{round_number}"
        self.topics = {
            name: (f"bench-{run_id}-{short}-req", f"bench-{run_id}-{short}-resp")
            for name, short in ((RAW, "raw"), (DIRECT, "direct"), (RUNTIME, "runtime"))
        }
        self.settings = settings = {
            "bootstrap": stack.bootstrap_servers,
            "registry": stack.schema_registry_url,
            "consumer": stack.consumer_settings(),
            "producer": stack.producer_settings(),
            "request_topics": [pair[0] for pair in self.topics.values()],
        }
        create_topics(stack.bootstrap_servers, [t for pair in self.topics.values() for t in pair])
        # The bridges register their schemas under their topics' subjects; the raw
        # client's topics get the same schemas, so all write byte-identical values.
        registry = SchemaRegistryClient({"url": stack.schema_registry_url})
        from confluent_kafka.schema_registry import Schema

        raw_topics = self.topics[RAW]
        for topic, cls in ((raw_topics[0], SentimentRequest), (raw_topics[1], SentimentResponse)):
            schema = json.dumps(avro_schema_for(cls, namespace=NAMESPACE))
            registry.register_schema(f"{topic}-value", Schema(schema, "AVRO"))

        for name, agent_type in ((DIRECT, "bench_bridge_direct"), (RUNTIME, "bench_bridge")):
            config = agent_config(settings, self.topics[name], f"bench-{agent_type}")
            agent = KafkaStreamingAgent(config, "bench bridge", SentimentRequest, SentimentResponse)
            self._agents.append(agent)
            await self.runtime.register_agent_instance(agent, AgentId(agent_type, "default"))
        self.runtime.start()
        for agent in self._agents:
            await agent.start()
        self._service = start_service("--serve", settings)
        self._raw = raw = await asyncio.to_thread(RawClient, settings, raw_topics)
        direct_agent, runtime_id = self._agents[0], AgentId("bench_bridge", "default")

        async def via_runtime(n: int) -> None:
            reply = await self.runtime.send_message(request(n), runtime_id)
            assert reply.request_number == n

        async def direct(n: int) -> None:
            context = MessageContext(
                sender=None,
                topic_id=None,
                is_rpc=True,
                cancellation_token=CancellationToken(),
                message_id=str(n),
            )
            reply = await direct_agent.on_message(request(n), context)
            assert reply.request_number == n

        async def raw_once(n: int) -> float:
            # Timed inside the thread: the hop to it is not part of the raw round trip.
            return (await asyncio.to_thread(_raw_round, raw, 1, n))[0]

        self._calls = {DIRECT: direct, RUNTIME: via_runtime}
        self.one_request = {
            RAW: raw_once,
            DIRECT: lambda n: timed(lambda: direct(n)),
            RUNTIME: lambda n: timed(lambda: via_runtime(n)),
        }

    @property
    def agents(self) -> list[KafkaStreamingAgent[Any, Any]]:
        return list(self._agents)

    async def burst(self, name: str, count: int) -> float:
        if name == RAW:
            raw = self._raw
            assert raw is not None
            return await timed(lambda: asyncio.to_thread(raw.burst, count))
        call = self._calls[name]
        return await timed(lambda: asyncio.gather(*(call(n) for n in range(count))))

    async def close(self) -> None:
        if self._service is not None:
            stop_service(self._service)
            self._service = None
        if self._raw is not None:
            await asyncio.to_thread(self._raw.close)
            self._raw = None
        await self.runtime.close()  # stops it if started, closes registered agents
        for agent in self._agents:  # and any the round made before failing (idempotent)
            await agent.close()
        self._agents.clear()


def request(n: int) -> SentimentRequest:
    return SentimentRequest(text=TEXT, language="en", request_number=n)


def foreign_reply_cost(settings: dict[str, Any], topic: str) -> float:
    """Loop time a bridge instance spends on a reply meant for another instance (µs)."""
    from akx_bridge._pending import PendingReplies  # private: the reader's own filter path
    from akx_bridge._reply_reader import ReplyReader

    consumer = Consumer(
        {"bootstrap.servers": settings["bootstrap"], "group.id": f"bench-{uuid.uuid4().hex}"}
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    records: list[Message] = []
    while len(records) < 1000:
        batch = ready_records(consumer, 2.0)
        if not batch:
            break
        records.extend(m for m in batch if m.error() is None)
    consumer.close()
    pending = PendingReplies()  # a fresh instance: every record is someone else's reply
    reader = ReplyReader(
        {"bootstrap.servers": settings["bootstrap"], "group.id": "unused"},
        topic=topic,
        partitions=len(partitions),
        pending=pending,
        serde=None,  # type: ignore[arg-type]  # never reached for foreign replies
        producer=None,  # type: ignore[arg-type]
        dead_letter_topic="unused",
    )
    best = float("inf")
    for _ in range(30):  # the best run is the one least disturbed by other work
        began = time.perf_counter()
        reader._on_batch(records)  # pyright: ignore[reportPrivateUsage]
        best = min(best, time.perf_counter() - began)
    assert pending.counts["foreign_replies"] == 30 * len(records)
    return best / len(records) * 1e6


def _raw_round(raw: RawClient, count: int, first: int = 0) -> list[float]:
    times: list[float] = []
    for n in range(first, first + count):
        began = time.perf_counter()
        raw.round_trip(n)
        times.append(time.perf_counter() - began)
    return times


async def _processor_row(
    settings: dict[str, Any], topics: tuple[str, str], count: int
) -> list[float]:
    config = agent_config(settings, topics, "bench-bridge-proc")
    agent = KafkaStreamingAgent(config, "bridge to processor", SentimentRequest, SentimentResponse)
    runtime = SingleThreadedAgentRuntime()
    target = AgentId("bench_bridge_proc", "default")
    await runtime.register_agent_instance(agent, target)
    runtime.start()
    await agent.start()
    service = start_service("--serve-processor", settings)
    times: list[float] = []
    try:
        for n in range(count + 50):
            elapsed = await timed(
                lambda n=n: runtime.send_message(
                    SentimentRequest(text=TEXT, language="en", request_number=n), target
                )
            )
            if n >= 50:  # warm-up
                times.append(elapsed)
    finally:
        stop_service(service)
        await runtime.stop()
        await runtime.close()
    return times


def report(results: dict[str, Any]) -> None:
    print(
        f"stack: {results['stack']}; {results['partitions']} partitions; "
        f"{results['text_chars']}-char text; {results['round_trips']} sequential round trips "
        f"and {results['bursts']} bursts of {results['burst_size']} per client, interleaved"
    )
    print()
    header_row = " | ".join(f"{h:>7}" for h in ("p50 ms", "p90 ms", "p99 ms", "mean ms"))
    print(f"| {'client':<42} | {header_row} | {'burst req/s':>11} |")
    print(f"|{'-' * 44}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 13}|")
    stats, rates = results["latency_ms"], results["burst_rps"]
    for name in stats:
        cells = " | ".join(f"{stats[name][k]:>7.2f}" for k in ("p50", "p90", "p99", "mean"))
        print(f"| {name:<42} | {cells} | {rates[name]:>11,.0f} |")
    p = results["processor_ms"]
    if p:
        cells = " | ".join(f"{p[k]:>7.2f}" for k in ("p50", "p90", "p99", "mean"))
        print(f"| {'bridge -> RequestProcessor (transactional)':<42} | {cells} | {'':>11} |")
    print()
    print(f"bridge counters: {results['counters']}")
    print()
    raw = stats[RAW]
    for name in (DIRECT, RUNTIME):
        print(
            f"{name} / raw: p50 {stats[name]['p50'] / raw['p50']:.2f}x, "
            f"p99 {stats[name]['p99'] / raw['p99']:.2f}x, "
            f"burst throughput {rates[name] / rates[RAW]:.2f}x"
        )
    print(
        f"a reply for another bridge instance costs {results['foreign_reply_us']:.2f} µs of this "
        "instance's loop (read one header, compare the instance prefix, skip)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="KafkaStreamingAgent vs raw request/reply")
    parser.add_argument("--quick", action="store_true", help="fewer requests (smoke run)")
    parser.add_argument("--serve", metavar="SETTINGS", help=argparse.SUPPRESS)
    parser.add_argument("--serve-processor", metavar="SETTINGS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        run_service(json.loads(args.serve))
        return
    if args.serve_processor:
        run_processor_service(json.loads(args.serve_processor))
        return
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    rounds, per_round, burst = (3, 50, 200) if args.quick else (6, 300, 500)
    with open_stack() as stack:
        report(
            asyncio.run(measure(stack, rounds, per_round, burst, "quick" if args.quick else "full"))
        )


if __name__ == "__main__":
    main()
