"""A worker process for the failover tests: hosts ``ledger`` and ``counter`` agents.

Run by path: ``python failover_worker.py '<json settings>'``. Prints ``READY`` once
started. ``ledger`` appends a JSON line to ``record`` when a handler starts and when
it finishes (line-buffered: a line written survives a SIGKILL), then returns the
request's id. ``counter`` counts the messages it was sent, keeps the count in its
saved state and returns it. On SIGTERM the runtime stops gracefully (drains, commits,
leaves the group), the script prints ``STOPPED`` and exits 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from autogen_core import BaseAgent, MessageContext

from akx_events import KafkaConfig, SchemaRegistryConfig
from akx_runtime import KafkaAgentRuntime, KafkaAgentRuntimeConfig


class Ledger(BaseAgent):
    def __init__(self, record: TextIO, delay: float, worker: str) -> None:
        super().__init__("records every run of its handler")
        self._record = record
        self._delay = delay
        self._worker = worker

    def _write(self, **entry: Any) -> None:
        self._record.write(json.dumps({"pid": os.getpid(), "t": time.time(), **entry}) + "\n")

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> Any:
        self._write(kind="start", id=message["id"])
        # From 1 to 10 times the base delay, so runs end at different moments.
        delay = message.get("delay", self._delay * (1 + sum(message["id"].encode()) % 10))
        if isinstance(delay, dict):  # per worker name: {"a": 60, "b": 0.1}
            delay = delay[self._worker]
        await asyncio.sleep(delay)
        self._write(kind="end", id=message["id"])
        return message["id"]


class Counter(BaseAgent):
    def __init__(self) -> None:
        super().__init__("counts its messages; the count is its state")
        self.count = 0

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> Any:
        self.count += 1
        return {"count": self.count, "pid": os.getpid()}

    async def save_state(self) -> Mapping[str, Any]:
        return {"count": self.count}

    async def load_state(self, state: Mapping[str, Any]) -> None:
        self.count = int(state["count"])


def runtime_config(settings: dict[str, Any]) -> KafkaAgentRuntimeConfig:
    kafka = KafkaConfig(
        name=f"failover-{settings['name']}",
        group_id="akx-failover",
        client_id=f"failover-{settings['name']}",
        bootstrap_servers=settings["bootstrap_servers"],
        schema_registry_config=SchemaRegistryConfig(url=settings["schema_registry_url"]),
        num_partitions=settings["num_partitions"],
        consumer_extra=settings["consumer_settings"],
        producer_extra=settings["producer_settings"],
    )
    return KafkaAgentRuntimeConfig(
        kafka_config=kafka,
        request_timeout=60,
        checkpoint_state=settings.get("checkpoint_state", False),
        journal=settings.get("journal", True),
        **settings["topics"],
    )


async def serve(settings: dict[str, Any]) -> None:
    record = open(settings["record"], "a", buffering=1)  # noqa: SIM115, ASYNC230 - for the run
    runtime = KafkaAgentRuntime(runtime_config(settings))
    delay = float(settings.get("delay", 0.005))
    await Ledger.register(runtime, "ledger", lambda: Ledger(record, delay, settings["name"]))
    await Counter.register(runtime, "counter", Counter)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await runtime.start()
    print("READY", flush=True)
    await stop.wait()
    await runtime.stop()
    await runtime.close()
    record.close()
    print("STOPPED", flush=True)


if __name__ == "__main__":
    asyncio.run(serve(json.loads(sys.argv[1])))
