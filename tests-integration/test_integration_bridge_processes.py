"""Two bridge instances in two OS processes share one response topic; each gets its own replies.

The handler (a RequestProcessor) runs in the test process. Each child process runs a
KafkaStreamingAgent in a SingleThreadedAgentRuntime and sends its requests at the same
time as the other child, so both readers see every reply on the shared topic.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from dataclasses import dataclass
from typing import Any

from akx_bridge import KafkaAgentConfig, KafkaMessageType, RequestProcessor
from akx_dev import KafkaStack
from akx_events import KafkaConfig, SchemaRegistryConfig

PER_PROCESS = 300

CHILD = r"""
import asyncio, json, sys, time
from dataclasses import dataclass
from autogen_core import AgentId, SingleThreadedAgentRuntime
from akx_bridge import KafkaAgentConfig, KafkaMessageType, KafkaStreamingAgent
from akx_events import KafkaConfig, SchemaRegistryConfig

@dataclass
class Job(KafkaMessageType):
    avro_namespace = "akx.tests.bridge.processes"
    owner: str
    number: int

@dataclass
class Done(KafkaMessageType):
    avro_namespace = "akx.tests.bridge.processes"
    owner: str
    number: int

async def main(settings):
    kafka = KafkaConfig(
        name=settings["tag"], group_id=settings["tag"], client_id=settings["tag"],
        bootstrap_servers=settings["bootstrap"],
        schema_registry_config=SchemaRegistryConfig(url=settings["registry"]),
        consumer_extra=settings["consumer"], producer_extra=settings["producer"],
    )
    config = KafkaAgentConfig(
        kafka_config=kafka, request_topic=settings["requests"],
        response_topic=settings["responses"], request_timeout=30.0,
    )
    agent = KafkaStreamingAgent(config, "bridge", Job, Done)
    runtime = SingleThreadedAgentRuntime()
    await runtime.register_agent_instance(agent, AgentId("bridge", "default"))
    runtime.start()
    await agent.start()
    print(json.dumps({"event": "ready"}), flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    count, tag = settings["count"], settings["tag"]
    results = await asyncio.gather(*(
        runtime.send_message(Job(owner=tag, number=n), AgentId("bridge", "default"))
        for n in range(count)
    ))
    wrong = sum(r != Done(owner=tag, number=n) for n, r in enumerate(results))
    print(json.dumps({"event": "done", "wrong": wrong}), flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    # Both children are done: every reply of the other one is on the topic by now.
    deadline = time.monotonic() + 15
    while agent.stats.foreign_replies < settings["foreign"] and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await runtime.stop()
    await runtime.close()
    stats = agent.stats
    print(json.dumps({"event": "stats", **stats.__dict__}), flush=True)

asyncio.run(main(json.loads(sys.argv[1])))
"""


@dataclass
class Job(KafkaMessageType):
    avro_namespace = "akx.tests.bridge.processes"
    owner: str
    number: int


@dataclass
class Done(KafkaMessageType):
    avro_namespace = "akx.tests.bridge.processes"
    owner: str
    number: int


async def handle(job: Job) -> Done:
    # Odd numbers wait a little: replies of each child leave out of request order.
    await asyncio.sleep(0.002 * (job.number % 2))
    return Done(owner=job.owner, number=job.number)


async def read_event(process: asyncio.subprocess.Process, event: str) -> dict[str, Any]:
    assert process.stdout is not None
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        assert line, f"child exited before {event!r}"
        if line.startswith(b"{"):
            found: dict[str, Any] = json.loads(line)
            if found["event"] == event:
                return found


async def tell(process: asyncio.subprocess.Process) -> None:
    assert process.stdin is not None
    process.stdin.write(b"next\n")
    await process.stdin.drain()


async def test_two_bridge_processes_sharing_a_response_topic_get_their_own_replies(
    kafka_stack: KafkaStack,
) -> None:
    run = uuid.uuid4().hex[:8]
    topics = {"requests": f"bridge-procs-req-{run}", "responses": f"bridge-procs-resp-{run}"}
    kafka = KafkaConfig(
        name="procs-handler",
        group_id=f"procs-handler-{run}",
        client_id="procs-handler",
        bootstrap_servers=kafka_stack.bootstrap_servers,
        schema_registry_config=SchemaRegistryConfig(url=kafka_stack.schema_registry_url),
        consumer_extra=kafka_stack.consumer_settings(),
        producer_extra=kafka_stack.producer_settings(),
    )
    config = KafkaAgentConfig(
        kafka_config=kafka, request_topic=topics["requests"], response_topic=topics["responses"]
    )
    common = {
        "bootstrap": kafka_stack.bootstrap_servers,
        "registry": kafka_stack.schema_registry_url,
        "consumer": kafka_stack.consumer_settings(),
        "producer": kafka_stack.producer_settings(),
        "count": PER_PROCESS,
        "foreign": PER_PROCESS,
        **topics,
    }
    async with RequestProcessor(config, handle) as processor:
        children = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                CHILD,
                json.dumps({**common, "tag": tag}),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            for tag in ("alpha", "beta")
        ]
        try:
            for child in children:
                await read_event(child, "ready")
            await asyncio.gather(*(tell(child) for child in children))  # send at the same time
            done = [await read_event(child, "done") for child in children]
            await asyncio.gather(*(tell(child) for child in children))
            stats = [await read_event(child, "stats") for child in children]
            codes = [await asyncio.wait_for(child.wait(), 30) for child in children]
        finally:
            for child in children:
                if child.returncode is None:
                    child.kill()
                    await child.wait()
        assert processor.stats.replies == 2 * PER_PROCESS
    assert codes == [0, 0]
    assert [d["wrong"] for d in done] == [0, 0]
    for child_stats in stats:
        assert child_stats["requests"] == child_stats["replies"] == PER_PROCESS
        # Each saw all of the other's replies and skipped them; none was its own.
        assert child_stats["foreign_replies"] == PER_PROCESS
        assert child_stats["late_replies"] == child_stats["timeouts"] == 0
        assert child_stats["malformed_replies"] == 0
