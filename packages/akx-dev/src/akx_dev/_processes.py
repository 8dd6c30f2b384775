"""A Python script run as a separate OS process, for tests that kill or stop workers."""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["ScriptProcess"]


class ScriptProcess:
    """Runs ``python <script> '<json settings>'`` and watches its standard output.

    Standard error goes to ``<directory>/<name>.stderr`` so a failing test can show it
    (a file, not a pipe: a pipe nobody reads blocks the thread that fills it, librdkafka's
    logging threads included). Standard output is read on a thread, so every wait for a
    line is bounded; :meth:`send` writes a line to the script's standard input.

    Args:
        script: the script to run.
        settings: passed to the script as one JSON argument.
        directory: where the stderr file goes.
        name: names the stderr file and failure messages.
    """

    def __init__(self, script: Path, settings: dict[str, Any], directory: Path, name: str) -> None:
        self.name = name
        self._stderr_path = directory / f"{name}.stderr"
        self._stderr = self._stderr_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, str(script), json.dumps(settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        # None marks the end of the output: the script exited (or closed stdout).
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.strip())
        self._lines.put(None)

    def _line(self, timeout: float) -> str | None:
        """The next line; None at the end of the output (kept for later calls).

        Raises:
            queue.Empty: no line within ``timeout`` seconds.
        """
        line = self._lines.get(timeout=timeout)
        if line is None:
            self._lines.put(None)
        return line

    def wait_for_line(self, expected: str, timeout: float) -> None:
        """Wait until the script prints ``expected`` on a line of its own.

        Raises:
            AssertionError: it did not within ``timeout`` seconds, or it exited.
        """
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self._line(max(remaining, 0.01))
                if line == expected:
                    return
            except queue.Empty:
                line = ""
            if line is None or time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(
                    f"{self.name} did not print {expected} "
                    f"(exit code {self.process.poll()}):\n{self.stderr_tail()}"
                )

    def next_line(self, timeout: float) -> str:
        """The next line the script prints (stripped).

        Raises:
            AssertionError: none within ``timeout`` seconds, or it exited first.
        """
        try:
            line = self._line(timeout)
        except queue.Empty:
            line = None
        if line is None:
            raise AssertionError(
                f"{self.name} printed nothing within {timeout:g} s "
                f"(exit code {self.process.poll()}):\n{self.stderr_tail()}"
            )
        return line

    def send(self, line: str) -> None:
        """Write ``line`` to the script's standard input."""
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def stderr_tail(self, chars: int = 3000) -> str:
        """The end of what the script wrote to standard error."""
        self._stderr.flush()
        return self._stderr_path.read_text()[-chars:]

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then wait for the exit; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL (if still running) and release the pipes. Idempotent."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(5)  # the pipe reaches its end once the process is gone
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None and not stream.closed:
                # Unflushed input to a process that is gone cannot be written.
                with contextlib.suppress(BrokenPipeError):
                    stream.close()
        if not self._stderr.closed:
            self._stderr.close()
