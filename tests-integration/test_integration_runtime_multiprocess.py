"""KafkaAgentRuntime across real OS processes on the session's broker.

Workers A and B run ``runtime_workers/runtime_worker.py`` for the whole module; each
test talks to them through a runtime of its own (a third worker that hosts nothing).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from autogen_core import AgentId, TopicId

from akx_dev import KafkaStack, ScriptProcess
from akx_events import KafkaConfig, SchemaRegistryConfig
from akx_runtime import (
    KafkaAgentRuntime,
    KafkaAgentRuntimeConfig,
    RecipientNotFoundError,
    RequestTimeoutError,
)

WORKER_SCRIPT = Path(__file__).parent / "runtime_workers" / "runtime_worker.py"
START_SECONDS = 30.0
EXIT_SECONDS = 15.0


class WorkerProcess(ScriptProcess):
    """One worker process and the record file its agents write."""

    def __init__(self, settings: dict[str, Any], directory: Path) -> None:
        super().__init__(WORKER_SCRIPT, settings, directory, f"worker-{settings['name']}")
        self.name: str = settings["name"]  # the agent type suffix, as the worker uses it
        self.record = Path(settings["record"])

    def stop(self, timeout: float = EXIT_SECONDS) -> int:
        return super().stop(timeout)

    def records(self, kind: str) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        lines = self.record.read_text().splitlines()
        return [entry for entry in map(json.loads, lines) if entry["kind"] == kind]


class Cluster:
    """Settings shared by the workers and the test's own runtime."""

    def __init__(self, stack: KafkaStack, directory: Path) -> None:
        run = uuid.uuid4().hex[:8]
        self.stack = stack
        self.directory = directory
        self.topics: dict[str, Any] = {
            "request_topic": f"mp-req-{run}",
            "response_topic": f"mp-resp-{run}",
            "registry_topic": f"mp-reg-{run}",
            "subscription_topic": f"mp-sub-{run}",
            "publish_topic": f"mp-pub-{run}",
        }

    def launch(self, name: str, hosts: list[str]) -> WorkerProcess:
        settings = {
            "name": name,
            "hosts": hosts,
            "record": str(self.directory / f"record-{name}.jsonl"),
            "bootstrap_servers": self.stack.bootstrap_servers,
            "schema_registry_url": self.stack.schema_registry_url,
            "consumer_settings": self.stack.consumer_settings(),
            "producer_settings": self.stack.producer_settings(),
            "num_partitions": 4,
            "topics": self.topics,
        }
        return WorkerProcess(settings, self.directory)

    def client(self) -> KafkaAgentRuntime:
        kafka = KafkaConfig(
            name="test-client",
            group_id="akx-multiprocess",
            client_id="test-client",
            bootstrap_servers=self.stack.bootstrap_servers,
            schema_registry_config=SchemaRegistryConfig(url=self.stack.schema_registry_url),
            num_partitions=4,
            consumer_extra=self.stack.consumer_settings(),
            producer_extra=self.stack.producer_settings(),
        )
        return KafkaAgentRuntime(
            KafkaAgentRuntimeConfig(kafka_config=kafka, request_timeout=10, **self.topics)
        )


ALL_TYPES = ["echo", "driver", "listener", "splitter"]


@pytest.fixture(scope="module")
def cluster(
    kafka_stack: KafkaStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Cluster, WorkerProcess, WorkerProcess]]:
    made = Cluster(kafka_stack, tmp_path_factory.mktemp("workers"))
    workers: list[WorkerProcess] = []
    try:
        workers = [made.launch("a", ALL_TYPES), made.launch("b", ALL_TYPES)]
        for worker in workers:
            worker.wait_for_line("READY", START_SECONDS)
        yield made, workers[0], workers[1]
        for worker in workers:
            assert worker.stop() == 0, worker.stderr_tail()
            worker.wait_for_line("STOPPED", EXIT_SECONDS)
    finally:
        for worker in workers:
            worker.kill()


@pytest.fixture
async def client(
    cluster: tuple[Cluster, WorkerProcess, WorkerProcess],
) -> AsyncIterator[KafkaAgentRuntime]:
    runtime = cluster[0].client()
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.close()


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def command(op: str, **fields: str) -> dict[str, str]:
    return {"op": op, **fields}


async def test_rpc_both_ways_between_worker_processes(client: KafkaAgentRuntime) -> None:
    a_to_b = await client.send_message(
        command("call", target="echo_b", text="hi from a"), AgentId("driver_a", "k")
    )
    b_to_a = await client.send_message(
        command("call", target="echo_a", text="hi from b"), AgentId("driver_b", "k")
    )
    assert a_to_b == "b got hi from a"
    assert b_to_a == "a got hi from b"


async def test_publish_fans_out_across_processes(
    client: KafkaAgentRuntime, cluster: tuple[Cluster, WorkerProcess, WorkerProcess]
) -> None:
    _, worker_a, worker_b = cluster
    marker = uuid.uuid4().hex[:8]
    await client.publish_message(f"client {marker}", TopicId("news", "fanout"))
    reply = await client.send_message(
        command("publish", topic="news", text=f"worker a {marker}"), AgentId("driver_a", "k")
    )
    assert reply == "published"

    def texts(worker: WorkerProcess) -> list[str]:
        return sorted(r["text"] for r in worker.records("news") if marker in r["text"])

    expected = [f"client {marker}", f"worker a {marker}"]
    await eventually(lambda: texts(worker_a) == expected and texts(worker_b) == expected)
    # Each listener got each publication once, keyed by the topic source.
    for worker in (worker_a, worker_b):
        agents = {r["agent"] for r in worker.records("news") if marker in r["text"]}
        assert agents == {f"listener_{worker.name}/fanout"}


async def test_late_joining_worker_sees_existing_registrations(
    client: KafkaAgentRuntime, cluster: tuple[Cluster, WorkerProcess, WorkerProcess]
) -> None:
    made = cluster[0]
    late = made.launch("c", ["echo", "driver"])
    try:
        late.wait_for_line("READY", START_SECONDS)
        # Other workers learn of C from the registry topic, moments after it started.
        directory = client._directory  # pyright: ignore[reportPrivateUsage]
        await eventually(lambda: directory.is_hosted("driver_c"))
        # C calls A and B, whose types were registered before C existed ...
        for target in ("echo_a", "echo_b"):
            reply = await client.send_message(
                command("call", target=target, text="from c"), AgentId("driver_c", "k")
            )
            assert reply == f"{target[-1]} got from c"
        # ... and A learns C's types while running.
        reply = await client.send_message(
            command("call", target="echo_c", text="to c"), AgentId("driver_a", "k")
        )
        assert reply == "c got to c"

        assert late.stop() == 0, late.stderr_tail()
        late.wait_for_line("STOPPED", EXIT_SECONDS)
        # Its registrations left with it.
        await eventually(lambda: not directory.is_hosted("echo_c"))
        with pytest.raises(RecipientNotFoundError):
            await client.send_message("x", AgentId("echo_c", "k"))
    finally:
        late.kill()


async def test_two_workers_split_one_thousand_requests(
    client: KafkaAgentRuntime, cluster: tuple[Cluster, WorkerProcess, WorkerProcess]
) -> None:
    _, worker_a, worker_b = cluster

    async def call(n: int) -> str:
        return await client.send_message({"n": n}, AgentId("splitter", f"key-{n}"))

    # Until both workers have joined the type's group, one may take every partition; a
    # warm-up call caught in a rebalance may time out (warm-up numbers are not counted).
    warm, deadline = -1, time.monotonic() + 30
    answered: set[str] = set()
    while answered != {"a", "b"}:
        assert time.monotonic() < deadline, f"only {answered} answered"
        outcomes = await asyncio.gather(
            *(call(warm - i) for i in range(20)), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, RequestTimeoutError):
                raise outcome
        answered |= {outcome for outcome in outcomes if isinstance(outcome, str)}
        warm -= 20

    total = 1000
    replies: list[str] = []
    for start in range(0, total, 100):
        replies += await asyncio.gather(*(call(n) for n in range(start, start + 100)))

    handled = {
        worker.name: [r["n"] for r in worker.records("split") if r["n"] >= 0]
        for worker in (worker_a, worker_b)
    }
    for numbers in handled.values():
        assert len(numbers) == len(set(numbers)), "a worker handled a request twice"
    a, b = set(handled["a"]), set(handled["b"])
    assert a | b == set(range(total))
    assert a.isdisjoint(b)
    assert a and b
    assert replies.count("a") == len(a) and replies.count("b") == len(b)
