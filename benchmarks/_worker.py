"""Benchmark worker processes: ``python -m benchmarks._worker KIND SETTINGS_JSON``.

Each prints ``ready`` when it serves and stops when its stdin closes.

- ``raw-echo``: plain confluent-kafka echo service (consume, produce the value back).
- ``akx``: a KafkaAgentRuntime hosting the roles in ``settings["roles"]``.
- ``grpc-host``: autogen-ext's GrpcWorkerAgentRuntimeHost.
- ``grpc``: a GrpcWorkerAgentRuntime hosting the roles.

Roles: ``echo`` (EchoAgent as type ``echo``), ``cpu`` (CpuAgent as type ``cpu``),
``subs`` (ten counting subscribers, see ``_agents.host_subscribers``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import threading
from typing import Any, cast

from autogen_core import AgentRuntime
from confluent_kafka import Consumer, Producer

from akx_dev import KafkaStack
from akx_runtime import KafkaAgentRuntime

from ._agents import CpuAgent, EchoAgent, add_serializers, host_subscribers
from ._common import runtime_config


def announce_ready() -> None:
    """Tell the parent this worker serves."""
    print("ready", flush=True)


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
    announce_ready()
    closed = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), closed.set()), daemon=True).start()
    while not closed.is_set():
        # Take whatever is ready in one call: the best a hand-written service does.
        first = consumer.poll(0.1)
        if first is None:
            continue
        for message in [first, *consumer.consume(499, 0)]:
            if message.error() is not None:
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


async def host_roles(runtime: AgentRuntime, roles: list[str]) -> None:
    if "echo" in roles:
        await EchoAgent.register(runtime, "echo", EchoAgent)
    if "cpu" in roles:
        await CpuAgent.register(runtime, "cpu", CpuAgent)
    if "subs" in roles:
        await host_subscribers(runtime)


async def wait_for_stdin_close() -> None:
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def serve_akx(stack: KafkaStack, settings: dict[str, Any]) -> None:
    config = runtime_config(
        stack,
        settings["prefix"],
        settings["worker"],
        partitions=settings.get("partitions", 1),
        journal=settings.get("journal"),
        max_in_flight=settings.get("max_in_flight"),
    )
    runtime = KafkaAgentRuntime(config)
    await host_roles(runtime, settings["roles"])
    await runtime.start()
    announce_ready()
    await wait_for_stdin_close()
    await runtime.stop()


async def serve_grpc_host(address: str) -> None:
    from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntimeHost

    host = GrpcWorkerAgentRuntimeHost(address=address)
    host.start()
    announce_ready()
    await wait_for_stdin_close()
    await host.stop()


async def serve_grpc(settings: dict[str, Any]) -> None:
    from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime

    runtime = GrpcWorkerAgentRuntime(host_address=settings["host"])
    add_serializers(runtime)
    await runtime.start()
    await host_roles(runtime, settings["roles"])
    announce_ready()
    await wait_for_stdin_close()
    await runtime.stop()


def main() -> None:
    # Surface the runtime's warnings and errors (a lost reply, a failed commit) on stderr.
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s: %(message)s")
    profile = os.environ.get("AKX_BENCH_PROFILE_WORKER")
    if profile:  # profile this worker (cProfile), for finding hot paths
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        try:
            serve()
        finally:
            profiler.disable()
            profiler.dump_stats(f"{profile}.{os.getpid()}")
        return
    serve()


def serve() -> None:
    kind, settings = sys.argv[1], json.loads(sys.argv[2])
    stack = KafkaStack(**settings["stack"]) if "stack" in settings else None
    if kind == "raw-echo":
        assert stack is not None
        serve_raw(stack, settings["prefix"])
    elif kind == "akx":
        assert stack is not None
        asyncio.run(serve_akx(stack, settings))
    elif kind == "grpc-host":
        asyncio.run(serve_grpc_host(settings["host"]))
    elif kind == "grpc":
        asyncio.run(serve_grpc(settings))
    else:
        raise SystemExit(f"unknown worker kind {kind!r}")


if __name__ == "__main__":
    main()
