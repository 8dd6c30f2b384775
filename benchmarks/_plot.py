"""The suite's PNG: latency distributions, throughput vs callers, scaling, fan-out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLORS = {
    "raw": "tab:gray",
    "akx": "tab:blue",
    "grpc": "tab:orange",
    "akx_nojournal": "tab:cyan",
    "akx_nocopy": "tab:green",
}
LABELS = {
    "raw": "raw confluent-kafka",
    "akx": "akx",
    "grpc": "autogen-ext gRPC",
    "akx_nojournal": "akx, journal off",
    "akx_nocopy": "akx, no observer copy",
}


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    (lat_ax, tput_ax), (scale_ax, fan_ax) = axes
    meta = results["meta"]
    fig.suptitle(
        f"akx benchmarks ({meta['mode']}, {meta['stack']} stack, {meta['cpus']} CPUs, "
        f"load {meta['load_before']})"
    )
    rpc = results.get("rpc")
    if rpc:
        for name, row in rpc["latency_ms"].items():
            samples = sorted(row["samples"])
            if samples:
                cdf = [(i + 1) / len(samples) for i in range(len(samples))]
                lat_ax.plot(samples, cdf, label=LABELS[name], color=COLORS[name])
        lat_ax.set_xscale("log")
        lat_ax.xaxis.set_major_formatter(ScalarFormatter())
        lat_ax.set_xlabel("round trip (ms)")
        lat_ax.set_ylabel("fraction of calls")
        lat_ax.set_title("RPC latency distribution (CDF)")
        lat_ax.legend()
        levels = rpc["levels"]
        for name, rates in rpc["throughput_rps"].items():
            ys = [rates[str(level)] for level in levels]
            tput_ax.plot(levels, ys, marker="o", label=LABELS[name], color=COLORS[name])
        tput_ax.set_xscale("log", base=2)
        tput_ax.set_xticks(levels, [str(level) for level in levels])
        tput_ax.set_xlabel("concurrent callers")
        tput_ax.set_ylabel("requests/s")
        tput_ax.set_title("RPC throughput vs concurrency")
        tput_ax.legend()
    scaling = results.get("scaling")
    if scaling:
        labels = ["1 worker", "2 workers"]
        values = [scaling["one_worker"]["rps"], scaling["two_workers"]["rps"]]
        limited = scaling.get("limited_one_worker")
        if limited:
            labels.append(f"1 worker,\nmax_in_flight {limited['max_in_flight']}")
            values.append(limited["rps"])
        scale_ax.bar(labels, values, color=COLORS["akx"])
        scale_ax.set_ylabel("requests/s")
        scale_ax.set_title(
            f"Scaling, {scaling['spin_ms']:.0f} ms CPU per request: {scaling['ratio']:.2f}x"
        )
    fanout = results.get("fanout")
    if fanout:
        groups = list(fanout["ratio"])
        names = [n for n in ("akx", "akx_nocopy", "grpc") if n in fanout["delivered_per_s"]]
        width = 0.8 / len(names)
        for index, name in enumerate(names):
            offset = (index - (len(names) - 1) / 2) * width
            values = [fanout["delivered_per_s"][name][n] for n in groups]
            xs = [i + offset for i in range(len(groups))]
            fan_ax.bar(xs, values, width, label=LABELS[name], color=COLORS[name])
        fan_ax.set_xticks(range(len(groups)), [f"{n} subscriber(s)" for n in groups])
        fan_ax.set_ylabel("deliveries/s")
        fan_ax.set_title("Publish fan-out, end to end")
        fan_ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
