"""Helpers for autogen-ext's gRPC runtime in the benchmarks."""

from __future__ import annotations

import socket


def free_address() -> str:
    """A localhost address with a port free right now for the gRPC host."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"
