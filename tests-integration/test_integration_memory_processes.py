"""KafkaMemory across OS processes: concurrent writers converge, a newcomer recovers it all.

Two worker processes (the script below, run by ``ScriptProcess``) open the same session,
add entries at the same time, and report what they see once they see everything. The
test process then opens a third instance after both exited and checks it recovers
the same contents, in the same order.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from akx_dev import KafkaStack, ScriptProcess
from akx_events import KafkaConfig, SchemaRegistryConfig
from akx_memory import KafkaMemory, KafkaMemoryConfig

TIMEOUT = 60

WORKER = r"""
import asyncio, json, sys, time
from autogen_core.memory import MemoryContent, MemoryMimeType
from akx_events import KafkaConfig, SchemaRegistryConfig
from akx_memory import KafkaMemory, KafkaMemoryConfig

settings = json.loads(sys.argv[1])


async def main() -> None:
    kafka = KafkaConfig(
        name=settings["name"], group_id="memory-it", client_id=settings["name"],
        bootstrap_servers=settings["bootstrap"],
        schema_registry_config=SchemaRegistryConfig(url=settings["registry"]),
        consumer_extra=settings["consumer"], producer_extra=settings["producer"],
    )
    config = KafkaMemoryConfig(kafka_config=kafka, memory_topic=settings["topic"])
    async with KafkaMemory(config, settings["session"]) as memory:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # "go": both write at the same time
        for i in range(settings["count"]):
            await memory.add(MemoryContent(
                content=f"{settings['name']} entry {i}", mime_type=MemoryMimeType.TEXT,
                metadata={"writer": settings["name"], "i": i},
            ))
        deadline = time.monotonic() + settings["timeout"]
        while len(memory) < settings["total"]:
            if time.monotonic() > deadline:
                # Bounded, with what the reader saw: a hang here would tell nothing.
                state = memory._changelog.reader.state
                print("stuck " + json.dumps({
                    "entries": len(memory), "position": state.position,
                    "pending": state.pending_count,
                    "partition": memory._changelog.partition,
                }), flush=True)
                return
            await asyncio.sleep(0.01)
        listing = [[k, v.content, v.metadata] for k, v in memory.entries().items()]
        print("converged " + json.dumps(listing), flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # "stop"


asyncio.run(main())
"""


def _start(
    stack: KafkaStack, settings: dict[str, Any], directory: Path, name: str
) -> ScriptProcess:
    script = directory / "memory_worker.py"
    script.write_text(WORKER)
    values = {
        "bootstrap": stack.bootstrap_servers,
        "registry": stack.schema_registry_url,
        "consumer": stack.consumer_settings(),
        "producer": stack.producer_settings(),
        "timeout": TIMEOUT,
        "name": name,
        **settings,
    }
    return ScriptProcess(script, values, directory, f"memory-{name}")


def _line(worker: ScriptProcess, prefix: str) -> str:
    # The worker bounds its own waits (TIMEOUT) and then says what it saw.
    line = worker.next_line(TIMEOUT + 15)
    if not line.startswith(prefix):
        pytest.fail(f"expected {prefix!r}, got {line!r}; stderr:\n{worker.stderr_tail()}")
    return line[len(prefix) :].strip()


def test_processes_converge_after_concurrent_adds_and_a_newcomer_recovers(
    kafka_stack: KafkaStack, tmp_path: Path
) -> None:
    topic, count = f"memory-it-{uuid.uuid4().hex[:8]}", 30
    common = {"topic": topic, "session": "shared", "count": count, "total": 2 * count}
    workers = [_start(kafka_stack, common, tmp_path, name) for name in ("alpha", "beta")]
    try:
        for worker in workers:
            _line(worker, "ready")
        for worker in workers:
            worker.send("go")
        views = [json.loads(_line(worker, "converged ")) for worker in workers]
        for worker in workers:
            worker.send("stop")
        for worker in workers:
            assert worker.process.wait(TIMEOUT) == 0
    finally:
        for worker in workers:
            worker.kill()
    assert views[0] == views[1]
    assert len(views[0]) == 2 * count
    writers = [metadata["writer"] for _, _, metadata in views[0]]
    assert writers.count("alpha") == writers.count("beta") == count

    kafka = KafkaConfig(
        name="memory-it-newcomer",
        group_id="memory-it",
        client_id="memory-it-newcomer",
        bootstrap_servers=kafka_stack.bootstrap_servers,
        schema_registry_config=SchemaRegistryConfig(url=kafka_stack.schema_registry_url),
        consumer_extra=kafka_stack.consumer_settings(),
        producer_extra=kafka_stack.producer_settings(),
    )
    config = KafkaMemoryConfig(kafka_config=kafka, memory_topic=topic)

    async def recover() -> list[list[Any]]:
        async with KafkaMemory(config, "shared") as newcomer:
            return [[k, v.content, v.metadata] for k, v in newcomer.entries().items()]

    assert asyncio.run(recover()) == views[0]
