"""Draw the trace of one sentence through the sentiment sample as an SVG waterfall.

Runs the real sample (``akx-sentiment``: worker 2 in this process, worker 1 and the
sentiment service as processes of their own, on the embedded stack unless
``AKX_BOOTSTRAP_SERVERS`` is set) with every process appending its spans to one
JSON-lines file, then draws the trace of the scored sentence::

    uv run python docs/render_trace.py            # writes docs/images/trace.svg
    uv run python docs/render_trace.py --spans spans.jsonl --output trace.svg
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SENTENCE = "I love this product, it is absolutely wonderful!"

_WIDTH, _LABEL_WIDTH, _ROW, _TOP = 1000, 430, 30, 56
_COLOURS = ("#4C78A8", "#F58518", "#54A24B", "#B279A2", "#E45756", "#72B7B2")

Span = dict[str, Any]


def run_sample(spans_file: Path) -> None:
    """Run the sample on one sentence with spans going to ``spans_file``."""
    from sentiment_sample import main as sample
    from sentiment_sample.telemetry import ENV

    os.environ[ENV] = f"jsonl:{spans_file}"
    with tempfile.TemporaryDirectory() as directory:
        sentences = Path(directory) / "sentences.txt"
        sentences.write_text(SENTENCE + "\n")
        sample.main(["--input", str(sentences), "--format", "jsonl"])


def last_trace(records: Sequence[Span]) -> list[Span]:
    """The spans of the trace whose root started last (the sample warms up first)."""
    roots = [r for r in records if r["parent_id"] is None]
    if not roots:
        raise SystemExit("no complete trace in the spans file")
    trace_id = max(roots, key=lambda r: r["start"])["trace_id"]
    return [r for r in records if r["trace_id"] == trace_id]


def _tree_order(spans: Sequence[Span]) -> list[tuple[int, Span]]:
    children: dict[str | None, list[Span]] = {}
    ids = {s["span_id"] for s in spans}
    for span in spans:
        parent = span["parent_id"] if span["parent_id"] in ids else None
        children.setdefault(parent, []).append(span)
    ordered: list[tuple[int, Span]] = []

    def visit(parent: str | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s["start"]):
            ordered.append((depth, span))
            visit(span["span_id"], depth + 1)

    visit(None, 0)
    return ordered


def _duration_label(x: float, width: float, y: float, nanoseconds: int) -> str:
    text = f"{nanoseconds / 1e6:.2f} ms"
    if x + width + 70 <= _WIDTH:  # right of the bar
        return f'<text x="{x + width + 4:.1f}" y="{y + 15}" fill="#444">{text}</text>'
    return (  # inside the bar's right end
        f'<text x="{x + width - 4:.1f}" y="{y + 15}" fill="white" text-anchor="end">{text}</text>'
    )


def render_svg(spans: Sequence[Span]) -> str:
    """A waterfall of ``spans`` (one trace): a bar per span, children below their parent."""
    rows = _tree_order(spans)
    begin = min(s["start"] for s in spans)
    total = max(max(s["end"] for s in spans) - begin, 1)
    services = list(dict.fromkeys(s["service"] for _, s in rows))
    colour = {name: _COLOURS[i % len(_COLOURS)] for i, name in enumerate(services)}
    chart = _WIDTH - _LABEL_WIDTH - 20
    height = _TOP + _ROW * len(rows) + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
        f'font-family="Helvetica, Arial, sans-serif" font-size="12">',
        f'<rect width="{_WIDTH}" height="{height}" fill="white"/>',
        f'<text x="10" y="20" font-size="14" font-weight="bold">One sentence through the '
        f"sentiment sample: trace {html.escape(spans[0]['trace_id'][:16])}…, "
        f"{total / 1e6:.1f} ms, {len(services)} processes</text>",
    ]
    for step in range(5):
        x = _LABEL_WIDTH + chart * step / 4
        out.append(
            f'<line x1="{x:.1f}" y1="{_TOP - 14}" x2="{x:.1f}" y2="{height - 40}" '
            f'stroke="#ddd"/><text x="{x:.1f}" y="{_TOP - 18}" text-anchor="middle" '
            f'fill="#666">{total * step / 4 / 1e6:.1f} ms</text>'
        )
    for row, (depth, span) in enumerate(rows):
        y = _TOP + row * _ROW
        x = _LABEL_WIDTH + chart * (span["start"] - begin) / total
        width = max(chart * (span["end"] - span["start"]) / total, 2)
        label = html.escape(span["name"])
        kind = span["kind"].lower()
        outline = ' stroke="#c00" stroke-width="2"' if span.get("status") == "ERROR" else ""
        out.append(
            f'<text x="{10 + 14 * depth}" y="{y + 15}">{label} '
            f'<tspan fill="#888">({kind})</tspan></text>'
            f'<rect x="{x:.1f}" y="{y + 3}" width="{width:.1f}" height="{_ROW - 10}" rx="3" '
            f'fill="{colour[span["service"]]}"{outline}/>'
            f"{_duration_label(x, width, y, span['end'] - span['start'])}"
        )
    legend_y = height - 16
    for i, name in enumerate(services):
        x = 10 + i * 220
        out.append(
            f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" fill="{colour[name]}"/>'
            f'<text x="{x + 18}" y="{legend_y}">process: {html.escape(name)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--spans", type=Path, help="draw this JSON-lines file, do not run")
    parser.add_argument("--output", type=Path, default=HERE / "images" / "trace.svg")
    args = parser.parse_args(argv)
    spans_file: Path = args.spans
    if spans_file is None:
        spans_file = Path(tempfile.mkdtemp()) / "spans.jsonl"
        run_sample(spans_file)
    records = [json.loads(line) for line in spans_file.read_text().splitlines() if line]
    spans = last_trace(records)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render_svg(spans))
    print(f"{len(spans)} spans of trace {spans[0]['trace_id']} -> {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
