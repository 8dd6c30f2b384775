"""The suite's table on stdout, and its targets checked against the results."""

from __future__ import annotations

import math
from typing import Any, TextIO

from ._common import ratio


def _target(name: str, value: float, goal: str, met: bool) -> dict[str, Any]:
    return {"name": name, "value": value, "target": goal, "met": bool(met)}


def check_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue, with the measured ratio or rate and whether it is met."""
    targets: list[dict[str, Any]] = []
    rpc = results.get("rpc")
    if rpc:
        lat = rpc["latency_ms"]
        for q, goal in (("p50", 1.3), ("p99", 2.0)):
            value = ratio(lat["akx"][q], lat["raw"][q])
            targets.append(_target(f"RPC latency {q} akx/raw", value, f"<= {goal}x", value <= goal))
        tput = rpc["throughput_rps"]
        for level in rpc["levels"]:
            value = ratio(tput["akx"][str(level)], tput["raw"][str(level)])
            targets.append(
                _target(f"RPC throughput x{level} akx/raw", value, ">= 0.8x", value >= 0.8)
            )
        for level in rpc["levels"]:
            if level >= 64:
                value = ratio(tput["akx"][str(level)], tput["grpc"][str(level)])
                targets.append(
                    _target(f"RPC throughput x{level} akx/gRPC", value, "> 1x", value > 1)
                )
    scaling = results.get("scaling")
    if scaling:
        value = scaling["ratio"]
        targets.append(_target("scaling 2 workers / 1", value, ">= 1.8x", value >= 1.8))
    fanout = results.get("fanout")
    if fanout:
        for n, value in fanout["ratio"].items():
            targets.append(_target(f"publish fan-out to {n} akx/gRPC", value, ">= 2x", value >= 2))
    serdes = results.get("serdes")
    if serdes:
        value = serdes["ratio"]
        targets.append(_target("serde encode+decode / fastavro", value, "<= 2x", value <= 2))
    memory = results.get("memory")
    if memory:
        value = memory["replay"]["rate"]
        goal = memory["target_rate"]
        targets.append(_target("memory replay entries/s", value, f">= {goal:,}", value >= goal))
    bridge = results.get("bridge")
    if bridge:
        value = bridge["ratio_p50"]
        targets.append(_target("bridge round trip p50 / raw", value, "<= 1.3x", value <= 1.3))
    for target in targets:
        if isinstance(target["value"], float) and math.isnan(target["value"]):
            target["met"] = False
    return targets


def _fmt(value: float, unit: str = "") -> str:
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}{unit}"
    return f"{value:.2f}{unit}"


def print_report(results: dict[str, Any], out: TextIO) -> None:
    meta = results["meta"]
    w = out.write
    w(
        f"akx benchmarks, {meta['mode']} mode, {meta['stack']} stack, {meta['cpus']} CPUs, "
        f"load average before {meta['load_before']} after {meta.get('load_after')}\n"
    )
    rpc = results.get("rpc")
    if rpc:
        w(f"\nRPC latency, one call at a time, {rpc['payload_chars']}-char payload (ms)\n")
        w(f"{'':10}{'p50':>9}{'p99':>9}{'p50/raw':>9}{'p99/raw':>9}\n")
        lat = rpc["latency_ms"]
        for name, row in lat.items():
            w(
                f"{name:10}{row['p50']:9.2f}{row['p99']:9.2f}"
                f"{_fmt(ratio(row['p50'], lat['raw']['p50']), 'x'):>9}"
                f"{_fmt(ratio(row['p99'], lat['raw']['p99']), 'x'):>9}\n"
            )
        w("\nRPC throughput (requests/s)\n")
        tput = rpc["throughput_rps"]
        plain = "akx_nojournal" in tput
        extra = f"{'no-journal':>11}{'/raw':>7}" if plain else ""
        w(f"{'callers':>8}{'raw':>9}{'akx':>9}{'gRPC':>9}{'akx/raw':>9}{'akx/gRPC':>10}{extra}\n")
        for level in rpc["levels"]:
            key = str(level)
            raw, akx, grpc = tput["raw"][key], tput["akx"][key], tput["grpc"][key]
            extra = ""
            if plain:
                nj = tput["akx_nojournal"][key]
                extra = f"{_fmt(nj):>11}{_fmt(ratio(nj, raw), 'x'):>7}"
            w(
                f"{level:>8}{_fmt(raw):>9}{_fmt(akx):>9}{_fmt(grpc):>9}"
                f"{_fmt(ratio(akx, raw), 'x'):>9}{_fmt(ratio(akx, grpc), 'x'):>10}{extra}\n"
            )
        samples = rpc.get("throughput_samples", {})
        if any(len(s) > 1 for by_level in samples.values() for s in by_level.values()):
            w("(medians of each client's turns; all turns at 64+ callers:)\n")
            for level in (level for level in rpc["levels"] if level >= 64):
                cells = "; ".join(
                    f"{name} " + " / ".join(_fmt(x) for x in by_level[str(level)])
                    for name, by_level in samples.items()
                )
                w(f"  x{level}: {cells}\n")
        cpu = rpc.get("server_cpu_us_per_request", {})
        if cpu:
            cells = ", ".join(f"{k} {_fmt(v) if v is not None else 'n/a'}" for k, v in cpu.items())
            w(f"serving-process CPU per request (µs): {cells}\n")
    scaling = results.get("scaling")
    if scaling:
        one, two = scaling["one_worker"], scaling["two_workers"]
        w(
            f"\nScaling, {scaling['spin_ms']:.0f} ms CPU per request, {scaling['requests']} "
            f"requests: 1 worker {_fmt(one['rps'])}/s, 2 workers {_fmt(two['rps'])}/s "
            f"(split {two['per_worker']}) = {_fmt(scaling['ratio'], 'x')}\n"
        )
        limited = scaling.get("limited_one_worker")
        if limited:
            w(
                f"Flow control, 1 worker with max_in_flight {limited['max_in_flight']}: "
                f"{_fmt(limited['rps'])}/s = {_fmt(scaling['ratio_limited'], 'x')} "
                "of the unlimited worker\n"
            )
    fanout = results.get("fanout")
    if fanout:
        w(f"\nPublish fan-out, {fanout['events']} events, deliveries/s\n")
        w(f"{'subscribers':>12}{'akx':>9}{'gRPC':>9}{'akx/gRPC':>10}{'no copy':>9}{'/gRPC':>7}\n")
        rates = fanout["delivered_per_s"]
        nocopy = fanout.get("ratio_nocopy", {})
        for n, value in fanout["ratio"].items():
            w(f"{n:>12}{_fmt(rates['akx'][n]):>9}{_fmt(rates['grpc'][n]):>9}{_fmt(value, 'x'):>10}")
            if n in nocopy:
                w(f"{_fmt(rates['akx_nocopy'][n]):>9}{_fmt(nocopy[n], 'x'):>7}")
            w("\n")
    serdes = results.get("serdes")
    if serdes:
        w("\nSerde encode+decode per event (µs)\n")
        for name, row in serdes["paths"].items():
            w(f"  {name:<46}{row['total_us']:8.2f}\n")
        sizes = serdes.get("by_payload_bytes", {})
        if sizes:
            cells = ", ".join(f"{size} B {row['ratio']:.2f}x" for size, row in sizes.items())
            w(f"  EventSerde / raw by payload size: {cells}\n")
    memory = results.get("memory")
    if memory:
        lag = memory["lag_ms"]
        w(
            f"\nMemory: replay {memory['entries']:,} entries at {memory['replay']['rate']:,.0f}/s "
            f"({memory['replay_mixed']['rate']:,.0f}/s with another session between); "
            f"add -> visible p50 {lag['lag_p50']:.1f} ms, p99 {lag['lag_p99']:.1f} ms\n"
        )
    bridge = results.get("bridge")
    if bridge:
        w("\nBridge round trip (ms)\n")
        for name, row in bridge["latency_ms"].items():
            w(f"  {name:<40}p50 {row['p50']:7.2f}  p99 {row['p99']:7.2f}\n")
    startup = results.get("startup")
    if startup:
        rounds = startup["rounds"]
        w(f"\nStart-up of a fresh caller runtime, {rounds} runtimes (ms, median / max)\n")
        for label, key in (
            ("start()", "start_ms"),
            ("its first call", "first_call_ms"),
            ("its next calls", "later_call_ms"),
        ):
            row = startup[key]
            w(f"  {label:<40}{row['median']:8.1f} / {row['max']:.1f}\n")
    targets = results.get("targets", [])
    if targets:
        w("\nTargets\n")
        for t in targets:
            mark = "met" if t["met"] else "NOT met"
            w(f"  {t['name']:<36}{_fmt(t['value']):>10}  {t['target']:<10} {mark}\n")
