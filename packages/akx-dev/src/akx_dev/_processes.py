"""A Python script run as a separate OS process, for tests that kill or stop workers."""

from __future__ import annotations

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

    Standard error goes to ``<directory>/<name>.stderr`` so a failing test can show it.

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
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
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

    def wait_for_line(self, expected: str, timeout: float) -> None:
        """Wait until the script prints ``expected`` on a line of its own.

        Raises:
            AssertionError: it did not within ``timeout`` seconds, or it exited.
        """
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                if self._lines.get(timeout=max(remaining, 0.01)) == expected:
                    return
            except queue.Empty:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(
                    f"{self.name} did not print {expected} "
                    f"(exit code {self.process.poll()}):\n{self.stderr_tail()}"
                )

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
        if self.process.stdout is not None:
            self.process.stdout.close()
        if not self._stderr.closed:
            self._stderr.close()
