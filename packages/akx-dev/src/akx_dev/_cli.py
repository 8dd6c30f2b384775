"""``akx-dev``: run the embedded development stack from the command line."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from ._stack import embedded_stack
from .exceptions import AkxDevError

__all__ = ["main", "run"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="akx-dev",
        description="Embedded Kafka-compatible broker and Schema Registry for development. "
        "Never for production.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "up",
        help="start broker and Schema Registry in the foreground until Ctrl-C or SIGTERM",
    )
    up.add_argument("--broker-port", type=int, default=None, help="broker port (default: free)")
    up.add_argument(
        "--registry-port", type=int, default=None, help="Schema Registry port (default: free)"
    )
    return parser


def _up(broker_port: int | None, registry_port: int | None) -> int:
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        with embedded_stack(broker_port=broker_port, registry_port=registry_port) as stack:
            print(f"bootstrap.servers={stack.bootstrap_servers}", flush=True)
            print(f"schema.registry.url={stack.schema_registry_url}", flush=True)
            while not stopping.wait(0.5):
                pass
    except AkxDevError as exc:
        print(f"akx-dev: {exc}", file=sys.stderr)
        return 1
    print("akx-dev: stopped", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``akx-dev`` command."""
    args = _parser().parse_args(argv)
    if args.command == "up":
        return _up(args.broker_port, args.registry_port)
    return 2  # pragma: no cover - argparse rejects unknown commands


def run() -> None:
    """Console-script wrapper: exit with :func:`main`'s status."""
    sys.exit(main())


if __name__ == "__main__":
    run()
