"""A KafkaAgentRuntime worker process for the multi-process tests.

Run by path: ``python runtime_worker.py '<json settings>'``. It hosts the agent types
named in ``hosts`` (suffixed with its ``name`` except ``splitter``, which every worker
hosts under the same type), prints ``READY`` once started, appends what its agents
handle to ``record`` (JSON lines), and on SIGTERM stops the runtime, prints
``STOPPED`` and exits 0.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from dataclasses import dataclass
from typing import Any

from autogen_core import (
    AgentId,
    BaseAgent,
    MessageContext,
    RoutedAgent,
    TopicId,
    TypeSubscription,
    message_handler,
)

from akx_events import KafkaConfig, SchemaRegistryConfig
from akx_runtime import KafkaAgentRuntime, KafkaAgentRuntimeConfig


@dataclass
class Greeting:
    """Crosses processes as a dataclass: both ends run this script as ``__main__``."""

    text: str


class Recorder:
    def __init__(self, path: str, worker: str) -> None:
        self._path = path
        self.worker = worker

    def write(self, **entry: Any) -> None:
        with open(self._path, "a") as file:
            file.write(json.dumps({"worker": self.worker, **entry}) + "\n")


class Echo(RoutedAgent):
    def __init__(self, worker: str) -> None:
        super().__init__("answers greetings")
        self._worker = worker

    @message_handler
    async def on_greeting(self, message: Greeting, ctx: MessageContext) -> Greeting:
        return Greeting(text=f"{self._worker} got {message.text}")


class Driver(BaseAgent):
    """Follows commands from the test: call another agent or publish."""

    def __init__(self) -> None:
        super().__init__("drives calls between workers")

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> Any:
        if message["op"] == "call":
            reply = await self.send_message(
                Greeting(message["text"]), AgentId(message["target"], "k")
            )
            assert isinstance(reply, Greeting)
            return reply.text
        await self.publish_message(message["text"], TopicId(message["topic"], "fanout"))
        return "published"


class Listener(BaseAgent):
    def __init__(self, recorder: Recorder) -> None:
        super().__init__("records publications")
        self._recorder = recorder

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> Any:
        self._recorder.write(kind="news", text=message, agent=str(self.id))
        return None


class Splitter(BaseAgent):
    def __init__(self, recorder: Recorder) -> None:
        super().__init__("records which worker handled a request")
        self._recorder = recorder

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> Any:
        self._recorder.write(kind="split", n=message["n"])
        return self._recorder.worker


def runtime_config(settings: dict[str, Any]) -> KafkaAgentRuntimeConfig:
    kafka = KafkaConfig(
        name=f"worker-{settings['name']}",
        group_id="akx-multiprocess",
        client_id=f"worker-{settings['name']}",
        bootstrap_servers=settings["bootstrap_servers"],
        schema_registry_config=SchemaRegistryConfig(url=settings["schema_registry_url"]),
        num_partitions=settings["num_partitions"],
        consumer_extra=settings["consumer_settings"],
        producer_extra=settings["producer_settings"],
    )
    return KafkaAgentRuntimeConfig(kafka_config=kafka, request_timeout=10, **settings["topics"])


async def serve(settings: dict[str, Any]) -> None:
    name: str = settings["name"]
    recorder = Recorder(settings["record"], name)
    runtime = KafkaAgentRuntime(runtime_config(settings))
    hosts = set(settings["hosts"])
    if "echo" in hosts:
        await Echo.register(runtime, f"echo_{name}", lambda: Echo(name))
    if "driver" in hosts:
        await Driver.register(runtime, f"driver_{name}", Driver)
    if "listener" in hosts:
        await Listener.register(runtime, f"listener_{name}", lambda: Listener(recorder))
        await runtime.add_subscription(TypeSubscription("news", f"listener_{name}"))
    if "splitter" in hosts:
        await Splitter.register(runtime, "splitter", lambda: Splitter(recorder))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await runtime.start()
    print("READY", flush=True)
    await stop.wait()
    await runtime.stop()
    await runtime.close()
    print("STOPPED", flush=True)


if __name__ == "__main__":
    asyncio.run(serve(json.loads(sys.argv[1])))
