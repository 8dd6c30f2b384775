"""The akx performance suite: akx next to its baselines, measured side by side in one run.

Run everything with ``uv run python -m benchmarks`` (``--quick`` for a short run,
``--smoke`` for the CI smoke check); see ``benchmarks/README.md``.
"""
