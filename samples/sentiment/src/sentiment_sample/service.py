"""The sentiment stream processor: consume requests, score them, produce replies.

It stands where a Flink job (``flink.sql``) stands in production, on the same topics and
schemas, and is built with akx-bridge's ``serve``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from akx_bridge import load_agent_config
from autogen_kafka_extension import serve

from .modules.events import SentimentRequest, SentimentResponse
from .scoring import score_request
from .telemetry import configure as configure_telemetry

HERE = Path(__file__).parent


async def main() -> None:
    """Serve until SIGTERM or SIGINT."""
    shutdown_telemetry = configure_telemetry("sentiment-service")
    config = load_agent_config(HERE / "agent_config.yml")
    task = asyncio.create_task(
        serve(config, score_request, request_type=SentimentRequest, response_type=SentimentResponse)
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    print("service ready", flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    if shutdown_telemetry is not None:
        shutdown_telemetry()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(processName)s %(name)s: %(message)s")
    asyncio.run(main())
