"""Run the benchmark suite: ``uv run python -m benchmarks [--quick | --smoke] [sections...]``.

One embedded stack (or ``AKX_BOOTSTRAP_SERVERS`` / ``AKX_SCHEMA_REGISTRY_URL``) serves
every section. The results go to a table on stdout, a JSON file and a PNG plot.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from akx_dev import KafkaStack, open_stack

from ._common import SIZES, Sizes, progress

RESULTS = Path(__file__).resolve().parent / "results"
Section = Callable[[KafkaStack, Sizes], Awaitable[dict[str, Any]]]


async def _serdes(stack: KafkaStack, sizes: Sizes) -> dict[str, Any]:
    from .serdes import measure

    return await asyncio.to_thread(measure, sizes.serde_number, sizes.serde_rounds)


async def _rpc(stack: KafkaStack, sizes: Sizes) -> dict[str, Any]:
    from .rpc import run

    return await run(stack, sizes)


async def _scaling(stack: KafkaStack, sizes: Sizes) -> dict[str, Any]:
    from .scaling import run

    return await run(stack, sizes)


async def _fanout(stack: KafkaStack, sizes: Sizes) -> dict[str, Any]:
    from .fanout import run

    return await run(stack, sizes)


async def _memory(stack: KafkaStack, sizes: Sizes) -> dict[str, Any]:
    from .memory import measure

    return await measure(stack, sizes.memory_entries, sizes.memory_probes)


async def _bridge(stack: KafkaStack, sizes: Sizes) -> dict[str, Any]:
    from .bridge import measure

    return await measure(
        stack, sizes.bridge_rounds, sizes.bridge_per_round, sizes.bridge_burst, sizes.mode
    )


async def _startup(stack: KafkaStack, sizes: Sizes) -> dict[str, Any]:
    from .startup import run

    return await run(stack, sizes)


SECTIONS: dict[str, Section] = {
    "serdes": _serdes,
    "rpc": _rpc,
    "scaling": _scaling,
    "fanout": _fanout,
    "memory": _memory,
    "bridge": _bridge,
    "startup": _startup,
}


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Linux/macOS
        return []


async def run_all(sizes: Sizes, names: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {
        "meta": {
            "mode": sizes.mode,
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "stack": None,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_before": _load(),
            "seconds": {},
        }
    }
    with progress.bar(len(names), "benchmarks") as bar:
        for name in names:
            bar.set_postfix_str(name)
            started = time.perf_counter()
            # Every section gets a stack of its own (a new embedded broker and registry;
            # the same servers when AKX_BOOTSTRAP_SERVERS names them): the embedded
            # broker answers more slowly the more topics it holds (600 empty topics
            # took the bridge's p50 from 1.24x to 1.44x raw), so a section sharing it
            # would pay for the topics of every section before it.
            with open_stack(allow_containers=False) as stack:
                results["meta"]["stack"] = stack.kind
                results[name] = await SECTIONS[name](stack, sizes)
            results["meta"]["seconds"][name] = round(time.perf_counter() - started, 1)
            bar.update()
    results["meta"]["load_after"] = _load()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=(__doc__ or "").splitlines()[0]
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="short run (a few minutes)")
    size.add_argument("--smoke", action="store_true", help="tiny run for CI: checks it works")
    parser.add_argument(
        "sections", nargs="*", help=f"sections to run (default: all): {', '.join(SECTIONS)}"
    )
    parser.add_argument(
        "--json", type=Path, default=RESULTS / "results.json", help="where the results go"
    )
    parser.add_argument(
        "--plot", type=Path, default=RESULTS / "results.png", help="where the plot goes"
    )
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")
    bars = parser.add_mutually_exclusive_group()
    bars.add_argument("--progress", action="store_true", help="progress bars even off a terminal")
    bars.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.progress or args.no_progress:
        progress.enabled = bool(args.progress)
    sizes = SIZES["smoke" if args.smoke else "quick" if args.quick else "full"]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    names = [n for n in SECTIONS if n in args.sections] if args.sections else list(SECTIONS)

    from ._report import check_targets, print_report

    results = asyncio.run(run_all(sizes, names))
    results["targets"] = check_targets(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    print_report(results, sys.stdout)
    print(f"\nresults: {args.json}")
    if not args.no_plot:
        from ._plot import plot

        args.plot.parent.mkdir(parents=True, exist_ok=True)
        plot(results, args.plot)
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
