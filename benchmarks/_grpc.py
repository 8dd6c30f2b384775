"""Helpers for autogen-ext's gRPC runtime in the benchmarks."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from ._agents import add_serializers
from ._common import Worker, start_workers, stop_workers

if TYPE_CHECKING:
    from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime


def free_address() -> str:
    """A localhost address with a port free right now for the gRPC host."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


@contextlib.asynccontextmanager
async def grpc_client(role: str) -> AsyncIterator[tuple[GrpcWorkerAgentRuntime, list[Worker]]]:
    """A gRPC host process, a worker process hosting ``role``, and a client runtime here.

    Yields the client runtime and the two processes (the host relays every message, so
    both count as serving); all are stopped when the block ends.
    """
    from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime

    host = free_address()
    workers = [Worker("grpc-host", host=host)]
    start_workers(*workers)
    try:
        # The worker connects to a host that is up.
        workers.append(Worker("grpc", host=host, roles=[role]))
        start_workers(workers[-1])
        client = GrpcWorkerAgentRuntime(host_address=host)
        add_serializers(client)
        await client.start()
        try:
            yield client, workers
        finally:
            await client.stop()
    finally:
        stop_workers(*reversed(workers))
