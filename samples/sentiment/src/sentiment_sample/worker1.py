"""Worker 1: a runtime (from config_worker1.yml) hosting the Kafka bridge agent by instance."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from autogen_core import AgentId

from akx_bridge import load_agent_config
from autogen_kafka_extension import KafkaAgentRuntimeFactory, KafkaStreamingAgent

from .modules.events import SentimentRequest, SentimentResponse
from .modules.forwarding_agent import BRIDGE
from .telemetry import configure as configure_telemetry

HERE = Path(__file__).parent


async def main() -> None:
    """Run until SIGTERM or SIGINT."""
    shutdown_telemetry = configure_telemetry("sentiment-worker1")
    runtime = await KafkaAgentRuntimeFactory.create_runtime_from_file(HERE / "config_worker1.yml")
    bridge = KafkaStreamingAgent(
        config=load_agent_config(HERE / "agent_config.yml"),
        description="Bridge to the sentiment stream processor",
        request_type=SentimentRequest,
        response_type=SentimentResponse,
    )
    await runtime.register_agent_instance(bridge, AgentId(BRIDGE.type, BRIDGE.key))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await runtime.start()
    print("worker1 ready", flush=True)
    try:
        await stopping.wait()
    finally:
        await runtime.close()
        if shutdown_telemetry is not None:
            shutdown_telemetry()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(processName)s %(name)s: %(message)s")
    asyncio.run(main())
