"""What the benchmark sections share: sizes, statistics, configs, worker processes."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import statistics
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from akx_dev import KafkaStack
from akx_events import KafkaConfig, SchemaRegistryConfig
from akx_runtime import KafkaAgentRuntimeConfig

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, kw_only=True)
class Sizes:
    """How much each section measures; ``full`` for the README figures."""

    mode: str
    latency_count: int  # sequential round trips per client
    latency_rounds: int  # turns each client takes for them (a fresh start each)
    levels: tuple[int, ...]  # concurrent callers
    per_level: int  # requests per client and level
    throughput_repeats: int  # turns per client and level; the median counts
    scaling_requests: int
    spin_ms: float  # CPU time of one scaling request
    fanout_events: int  # published events per subscriber count
    serde_number: int
    serde_rounds: int
    memory_entries: int
    memory_probes: int
    bridge_rounds: int
    bridge_per_round: int
    bridge_burst: int
    startup_rounds: int  # fresh caller runtimes started


SIZES = {
    "smoke": Sizes(
        mode="smoke",
        throughput_repeats=1,
        latency_rounds=1,
        latency_count=24,
        levels=(1, 8),
        per_level=48,
        scaling_requests=24,
        spin_ms=20.0,
        fanout_events=20,
        serde_number=200,
        serde_rounds=2,
        memory_entries=500,
        memory_probes=10,
        bridge_rounds=1,
        bridge_per_round=10,
        bridge_burst=20,
        startup_rounds=2,
    ),
    "quick": Sizes(
        mode="quick",
        throughput_repeats=1,
        latency_rounds=2,
        latency_count=200,
        levels=(1, 8, 64, 256),
        per_level=512,
        scaling_requests=200,
        spin_ms=20.0,
        fanout_events=200,
        serde_number=1_000,
        serde_rounds=5,
        memory_entries=10_000,
        memory_probes=100,
        bridge_rounds=3,
        bridge_per_round=50,
        bridge_burst=200,
        startup_rounds=4,
    ),
    "full": Sizes(
        mode="full",
        throughput_repeats=3,
        latency_rounds=4,
        latency_count=2_000,
        levels=(1, 8, 64, 256),
        per_level=3_000,
        scaling_requests=1_000,
        spin_ms=20.0,
        fanout_events=1_000,
        serde_number=5_000,
        serde_rounds=25,
        memory_entries=100_000,
        memory_probes=500,
        bridge_rounds=6,
        bridge_per_round=300,
        bridge_burst=500,
        startup_rounds=10,
    ),
}


def pct(samples: Iterable[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``samples``, nearest rank."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def median_of_turns(rates: list[float]) -> float:
    """The median of a client's turns; NaN when a turn stalled (a failure, not an outlier)."""
    if any(math.isnan(rate) for rate in rates):
        return float("nan")
    return statistics.median(rates)


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def stack_dict(stack: KafkaStack) -> dict[str, str]:
    return {
        "bootstrap_servers": stack.bootstrap_servers,
        "schema_registry_url": stack.schema_registry_url,
        "kind": stack.kind,
    }


def has_journal_switch() -> bool:
    """Whether this akx-runtime has the ``journal`` setting (processed-id log)."""
    return "journal" in {f.name for f in dataclasses.fields(KafkaAgentRuntimeConfig)}


def runtime_config(
    stack: KafkaStack,
    prefix: str,
    worker: str,
    *,
    partitions: int = 1,
    journal: bool | None = None,
    max_in_flight: int | None = None,
) -> KafkaAgentRuntimeConfig:
    """Runtime settings shared by every akx process of one measurement (``prefix``).

    ``journal=False`` turns the runtime's processed-request journal off where that
    setting exists; by default it follows ``AKX_BENCH_JOURNAL`` (``0`` for off), else
    the runtime's own default (on). ``max_in_flight`` follows
    ``AKX_BENCH_MAX_IN_FLIGHT`` when not given, else the runtime's default.
    """
    if journal is None:
        journal = os.environ.get("AKX_BENCH_JOURNAL", "1") != "0"
    extra: dict[str, Any] = {} if journal or not has_journal_switch() else {"journal": False}
    if max_in_flight is None and "AKX_BENCH_MAX_IN_FLIGHT" in os.environ:
        max_in_flight = int(os.environ["AKX_BENCH_MAX_IN_FLIGHT"])
    if max_in_flight is not None:
        extra["max_in_flight"] = max_in_flight
    kafka = KafkaConfig(
        name=worker,
        group_id=f"{prefix}-group",
        client_id=worker,
        bootstrap_servers=stack.bootstrap_servers,
        schema_registry_config=SchemaRegistryConfig(url=stack.schema_registry_url),
        num_partitions=partitions,
        consumer_extra={
            **stack.consumer_settings(),
            **json.loads(os.environ.get("AKX_BENCH_CONSUMER_EXTRA", "{}")),
        },
        producer_extra={
            **stack.producer_settings(),
            **json.loads(os.environ.get("AKX_BENCH_PRODUCER_EXTRA", "{}")),
        },
    )
    return KafkaAgentRuntimeConfig(
        kafka_config=kafka,
        request_topic=f"{prefix}-req",
        response_topic=f"{prefix}-resp",
        registry_topic=f"{prefix}-registry",
        subscription_topic=f"{prefix}-subs",
        publish_topic=f"{prefix}-pub",
        request_timeout=60,
        worker_id=worker,
        **extra,
    )


class Worker:
    """A benchmark worker in its own OS process (``python -m benchmarks._worker``).

    It prints ``ready`` once it serves and stops when its stdin closes.
    """

    def __init__(self, kind: str, **settings: Any) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self.kind = kind
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._worker", kind, json.dumps(settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )

    def wait_ready(self) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if line != "ready":
            self.process.kill()
            raise RuntimeError(f"{self.kind} worker did not start (said {line!r})")

    def close(self) -> None:
        """Ask the worker to stop (closes its stdin), without waiting."""
        stdin = self.process.stdin
        if stdin is not None and not stdin.closed:
            stdin.close()

    def stop(self) -> None:
        process = self.process
        self.close()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system, all threads) the worker used so far; None off Linux."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # utime and stime: fields 14 and 15 of stat(5), counted after the ")" from 3.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_workers(*workers: Worker) -> None:
    """Stop workers together: each leaves its groups while the others do too."""
    for worker in workers:
        worker.close()
    for worker in workers:
        worker.stop()


def start_workers(*workers: Worker) -> None:
    """Wait for workers started together (their start-ups overlap)."""
    try:
        for worker in workers:
            worker.wait_ready()
    except BaseException:
        stop_workers(*workers)
        raise


class _Progress:
    """Progress bars on stderr (tqdm); off when stderr is not a terminal unless forced."""

    enabled: bool | None = None  # None: only on a terminal

    def bar(self, total: int, desc: str) -> Any:
        from tqdm import tqdm

        disable = None if self.enabled is None else not self.enabled
        return tqdm(total=total, desc=desc, leave=False, disable=disable, unit="step")


progress = _Progress()
