"""Distributed sentiment analysis: the sample's entry point (``uv run akx-sentiment``).

Three processes talk through Kafka:

- this one runs worker 2 (``config_worker2.yml``), hosting ``ForwardingAgent`` by factory;
- worker 1 (``config_worker1.yml``) hosts the ``KafkaStreamingAgent`` bridge by instance;
- the sentiment service (``service.py``) answers the bridge's requests, as a Flink job would.

With no Kafka configured (``AKX_BOOTSTRAP_SERVERS`` unset) the embedded development stack is
started first, so the sample runs offline with no setup. ``--otel-console`` prints every
process's spans and metrics to stderr (see ``telemetry.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from autogen_core import AgentId

from akx_dev import BOOTSTRAP_ENV, REGISTRY_ENV, embedded_stack
from akx_runtime import KafkaAgentRuntime, RecipientNotFoundError
from autogen_kafka_extension import KafkaAgentRuntimeFactory

from .modules.events import SentimentRequest, SentimentResponse
from .modules.forwarding_agent import ForwardingAgent
from .telemetry import ENV as OTEL_ENV
from .telemetry import configure as configure_telemetry

HERE = Path(__file__).parent
FORWARDER = AgentId("forwarding_agent", "default")

# Client settings that make the embedded broker fast (see the akx-dev README).
_EMBEDDED_ENV = {
    "AKX_FETCH_WAIT_MAX_MS": "5",
    "AKX_SESSION_TIMEOUT_MS": "2000",
    "AKX_HEARTBEAT_INTERVAL_MS": "200",
}


@contextlib.contextmanager
def kafka_environment() -> Iterator[str]:
    """Use the configured cluster, or start the embedded stack and point the env at it."""
    if os.environ.get(BOOTSTRAP_ENV):
        yield "configured"
        return
    with embedded_stack() as stack:
        saved = dict(os.environ)
        os.environ.update(
            {
                BOOTSTRAP_ENV: stack.bootstrap_servers,
                REGISTRY_ENV: stack.schema_registry_url,
                **_EMBEDDED_ENV,
            }
        )
        try:
            yield "embedded"
        finally:
            os.environ.clear()
            os.environ.update(saved)


@contextlib.contextmanager
def background(module: str, ready: str) -> Iterator[subprocess.Popen[str]]:
    """Run ``python -m module`` until the block ends; wait for its ready line."""
    process = subprocess.Popen(
        [sys.executable, "-m", module], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if line != ready:
            raise RuntimeError(f"{module} did not start (said {line!r})")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


async def analyse(runtime: KafkaAgentRuntime, text: str) -> SentimentResponse:
    """Ask the forwarding agent; it asks the bridge, which asks the service."""
    response = await runtime.send_message(SentimentRequest(text=text), FORWARDER)
    assert isinstance(response, SentimentResponse)
    return response


async def wait_for_bridge(runtime: KafkaAgentRuntime, timeout: float = 60.0) -> None:
    """Worker 1 registers the bridge when it starts; wait until the first call goes through."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await analyse(runtime, "warm up")
            return
        except RecipientNotFoundError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total: int, out: TextIO = sys.stderr) -> None:
        self.total, self.done, self.out = total, 0, out
        self.started = time.monotonic()

    def step(self) -> None:
        self.done += 1
        width = 30
        filled = width * self.done // max(self.total, 1)
        rate = self.done / max(time.monotonic() - self.started, 1e-9)
        self.out.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} ({rate:.0f}/s)"
        )
        if self.done == self.total:
            self.out.write("\n")
        self.out.flush()


async def batch(
    runtime: KafkaAgentRuntime, lines: Sequence[str], output: str, concurrency: int
) -> None:
    """Score every line, concurrently, and print the results in input order."""
    progress = Progress(len(lines))
    limit = asyncio.Semaphore(concurrency)

    async def one(text: str) -> SentimentResponse:
        async with limit:
            result = await analyse(runtime, text)
        progress.step()
        return result

    results = await asyncio.gather(*(one(text) for text in lines))
    if output == "jsonl":
        for text, result in zip(lines, results, strict=True):
            print(json.dumps({"text": text, "sentiment": result.sentiment, "score": result.score}))
    else:
        width = min(max((len(t) for t in lines), default=4), 60)
        print(f"{'text':<{width}}  {'sentiment':<9}  score")
        for text, result in zip(lines, results, strict=True):
            shown = text if len(text) <= width else text[: width - 1] + "…"
            print(f"{shown:<{width}}  {result.sentiment:<9}  {result.score:+.3f}")


async def interactive(runtime: KafkaAgentRuntime) -> None:
    """Read sentences from stdin until EOF or 'quit'."""
    print("Type a sentence (empty line or 'quit' to stop).")
    while True:
        try:
            text = await asyncio.to_thread(input, "> ")
        except EOFError:
            return
        if not text.strip() or text.strip().lower() in ("quit", "exit"):
            return
        result = await analyse(runtime, text)
        print(f"{result.sentiment} ({result.score:+.3f})")


async def run_sample(args: argparse.Namespace) -> None:
    runtime = await KafkaAgentRuntimeFactory.create_runtime_from_file(HERE / "config_worker2.yml")
    await runtime.register_factory("forwarding_agent", ForwardingAgent)
    await runtime.start()
    try:
        await wait_for_bridge(runtime)
        if args.input is not None:
            lines = [line.strip() for line in args.input.read_text().splitlines() if line.strip()]
            await batch(runtime, lines, args.format, args.concurrency)
        else:
            await interactive(runtime)
    finally:
        await runtime.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(
        prog="akx-sentiment", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--input", type=Path, help="score each line of this file (batch mode)")
    parser.add_argument("--format", choices=["table", "jsonl"], default="table")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument(
        "--otel-console",
        action="store_true",
        help="print the OpenTelemetry spans and metrics of all three processes to stderr",
    )
    args = parser.parse_args(argv)
    if args.otel_console:
        os.environ[OTEL_ENV] = "console"  # inherited by the processes started below
    shutdown_telemetry = configure_telemetry("sentiment-worker2")
    try:
        run_processes(args)
    finally:
        if shutdown_telemetry is not None:
            shutdown_telemetry()
    return 0


def run_processes(args: argparse.Namespace) -> None:
    """Start Kafka if needed, the service and worker 1, then run this worker."""
    with kafka_environment() as where:
        print(f"Kafka: {os.environ.get(BOOTSTRAP_ENV)} ({where})", file=sys.stderr)
        with (
            background("sentiment_sample.service", "service ready"),
            background("sentiment_sample.worker1", "worker1 ready"),
        ):
            asyncio.run(run_sample(args))


def run() -> None:
    """Console script."""
    sys.exit(main())


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(processName)s %(name)s: %(message)s")
    run()
