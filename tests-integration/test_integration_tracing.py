"""One trace per call chain across real processes: the sentiment sample's chain.

This process is worker 2 (the forwarding agent, spans in the SDK's in-memory
exporter); worker 1 (the bridge agent) and the sentiment service run as the sample's
own processes and write their spans as JSON lines to a file. A call to the forwarding
agent must form one trace with the right parents and span kinds in all three.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from akx_dev import BOOTSTRAP_ENV, REGISTRY_ENV, KafkaStack
from akx_runtime import KafkaAgentRuntime
from akx_runtime._factory import load_runtime_config
from sentiment_sample import main as sample
from sentiment_sample.modules.events import SentimentRequest, SentimentResponse
from sentiment_sample.modules.forwarding_agent import ForwardingAgent
from sentiment_sample.telemetry import ENV as OTEL_ENV
from sentiment_sample.telemetry import span_record

READY_SECONDS = 60.0
DOCS = Path(__file__).resolve().parents[1] / "docs"


def _environment(stack: KafkaStack, spans_file: Path) -> dict[str, str]:
    env = {
        BOOTSTRAP_ENV: stack.bootstrap_servers,
        REGISTRY_ENV: stack.schema_registry_url,
        OTEL_ENV: f"jsonl:{spans_file}",
    }
    if stack.embedded:
        env.update(
            AKX_FETCH_WAIT_MAX_MS="5",
            AKX_SESSION_TIMEOUT_MS="2000",
            AKX_HEARTBEAT_INTERVAL_MS="200",
        )
    return env


@pytest.fixture
def sample_processes(
    kafka_stack: KafkaStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Worker 1 and the sentiment service, writing spans to the returned file."""
    spans_file = tmp_path / "spans.jsonl"
    env = _environment(kafka_stack, spans_file)
    for name, value in env.items():
        if name != OTEL_ENV:
            monkeypatch.setenv(name, value)  # worker 2's YAML reads the addresses too
    processes: list[subprocess.Popen[str]] = []
    try:
        for module, ready in [
            ("sentiment_sample.service", "service ready"),
            ("sentiment_sample.worker1", "worker1 ready"),
        ]:
            process = subprocess.Popen(
                [sys.executable, "-m", module],
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, **env},
            )
            processes.append(process)
            assert process.stdout is not None
            assert process.stdout.readline().strip() == ready, f"{module} did not start"
        yield spans_file
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


def _remote_spans(spans_file: Path, trace_id: str, names: set[str]) -> list[dict[str, Any]]:
    """The spans of ``trace_id`` in the file, once every one of ``names`` is there."""
    deadline = time.monotonic() + 15
    while True:
        found: list[dict[str, Any]] = []
        if spans_file.exists():
            records = [json.loads(line) for line in spans_file.read_text().splitlines()]
            found = [r for r in records if r["trace_id"] == trace_id]
        if names <= {r["name"] for r in found} or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


async def test_a_call_chain_across_three_processes_is_one_trace(
    sample_processes: Path,
) -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": "test-worker2"}))
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    metrics = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[metrics])
    config = load_runtime_config(Path(sample.__file__).parent / "config_worker2.yml")
    runtime = KafkaAgentRuntime(
        config, tracer_provider=tracer_provider, meter_provider=meter_provider
    )
    await runtime.register_factory("forwarding_agent", ForwardingAgent)
    await runtime.start()
    try:
        await sample.wait_for_bridge(runtime, timeout=READY_SECONDS)
        exporter.clear()
        response = await runtime.send_message(
            SentimentRequest(text="I love this"), sample.FORWARDER
        )
    finally:
        await runtime.close()
        tracer_provider.shutdown()
    assert isinstance(response, SentimentResponse) and response.sentiment == "positive"

    local = [span_record(s) for s in exporter.get_finished_spans()]
    (root,) = [s for s in local if s["parent_id"] is None]
    assert root["name"] == "autogen create forwarding_agent.(default)-A"
    trace_id = root["trace_id"]
    remote = _remote_spans(
        sample_processes,
        trace_id,
        {"autogen process sentiment_bridge.(default)-A", "process sentiment_requests"},
    )
    spans = local + remote
    assert {s["trace_id"] for s in spans} == {trace_id}
    by_id = {s["span_id"]: s for s in spans}

    def chain_of(span: dict[str, Any]) -> list[tuple[str, str, str]]:
        chain: list[tuple[str, str, str]] = []
        current: dict[str, Any] | None = span
        while current is not None:
            chain.append((current["service"], current["kind"], current["name"]))
            current = by_id.get(current["parent_id"]) if current["parent_id"] else None
        return chain[::-1]

    (leaf,) = [s for s in spans if s["name"] == "process sentiment_requests"]
    assert chain_of(leaf) == [
        ("test-worker2", "PRODUCER", "autogen create forwarding_agent.(default)-A"),
        ("test-worker2", "CONSUMER", "autogen process forwarding_agent.(default)-A"),
        ("test-worker2", "PRODUCER", "autogen create sentiment_bridge.(default)-A"),
        ("sentiment-worker1", "CONSUMER", "autogen process sentiment_bridge.(default)-A"),
        ("sentiment-worker1", "PRODUCER", "send sentiment_requests"),
        ("sentiment-service", "CONSUMER", "process sentiment_requests"),
    ]
    assert len(spans) == 6
    send = by_id[leaf["parent_id"]]
    bridge_process = by_id[send["parent_id"]]
    attributes = bridge_process["attributes"]
    assert attributes["messaging.system"] == "kafka"
    assert attributes["messaging.destination.name"] == "sentiment_runtime_requests.sentiment_bridge"
    for span in (bridge_process, send, leaf):
        assert {"messaging.destination.partition.id", "messaging.kafka.offset"} <= set(
            span["attributes"]
        )
        assert span["attributes"]["messaging.message.id"]
    assert send["attributes"]["messaging.message.id"] == leaf["attributes"]["messaging.message.id"]
    _check_rendering(spans)
    data = metrics.get_metrics_data()
    assert data is not None
    names = {m.name for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics}
    assert {"akx.rpc.outcomes", "akx.rpc.in_flight", "akx.message.processing.duration"} <= names
    meter_provider.shutdown()


def _check_rendering(spans: list[dict[str, Any]]) -> None:
    """docs/render_trace.py draws these spans: one bar per span, one colour per process."""
    spec = importlib.util.spec_from_file_location("render_trace", DOCS / "render_trace.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    svg = ElementTree.fromstring(module.render_svg(spans))
    namespace = "{http://www.w3.org/2000/svg}"
    bars = [r for r in svg.iter(f"{namespace}rect") if r.get("rx") == "3"]
    assert len(bars) == len(spans)
    assert len({bar.get("fill") for bar in bars}) == 3
    texts = "".join(svg.itertext())
    assert all(span["name"] in texts for span in spans)
