"""The benchmark suite runs end to end in its quick size: CI's smoke check, no timing asserted."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("serdes", "rpc", "scaling", "fanout", "memory", "bridge", "startup")


@pytest.mark.slow
@pytest.mark.timeout(540)
def test_quick_run_writes_every_section(tmp_path: Path) -> None:
    results_path, plot_path = tmp_path / "bench.json", tmp_path / "bench.png"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKX_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--no-progress",
            "--json",
            str(results_path),
            "--plot",
            str(plot_path),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=480,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    results = json.loads(results_path.read_text())
    assert results["meta"]["mode"] == "quick"
    assert set(SECTIONS) <= set(results)

    rpc = results["rpc"]
    for client in ("raw", "akx", "grpc"):
        assert rpc["latency_ms"][client]["p50"] > 0
        for level in rpc["levels"]:
            assert rpc["throughput_rps"][client][str(level)] > 0  # NaN (a stall) fails too
    scaling = results["scaling"]
    assert sum(scaling["one_worker"]["per_worker"]) == scaling["requests"]
    assert len(scaling["two_workers"]["per_worker"]) == 2  # both workers took requests
    limited = scaling["limited_one_worker"]
    assert limited["max_in_flight"] == 2
    assert sum(limited["per_worker"]) == scaling["requests"]
    assert scaling["ratio_limited"] > 0
    assert set(results["fanout"]["ratio"]) == {"1", "10"}
    assert all(math.isfinite(v) for v in results["fanout"]["ratio"].values())
    assert all(math.isfinite(v) for v in results["fanout"]["ratio_nocopy"].values())
    assert results["serdes"]["ratio"] > 0
    assert results["memory"]["replay"]["rate"] > 0
    assert results["memory"]["lag_ms"]["samples"] > 0
    assert results["bridge"]["latency_ms"]["bridge via runtime.send_message"]["p50"] > 0
    startup = results["startup"]
    for key in ("start_ms", "first_call_ms", "later_call_ms"):
        assert startup[key]["median"] > 0
    assert "Start-up of a fresh caller runtime" in result.stdout

    names = " ".join(t["name"] for t in results["targets"])
    for word in ("latency", "throughput", "scaling", "fan-out", "serde", "memory", "bridge"):
        assert word in names
    assert "Targets" in result.stdout
    assert plot_path.read_bytes().startswith(b"\x89PNG")
