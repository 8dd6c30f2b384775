"""ScriptProcess: run a script, wait for a line, stop or kill it."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from akx_dev import ScriptProcess

SCRIPT = """
import json, signal, sys, time
settings = json.loads(sys.argv[1])
signal.signal(signal.SIGTERM, lambda *_: sys.exit(settings["exit_code"]))
sys.stderr.write("some diagnostics\\n")
sys.stderr.flush()
print("hello", flush=True)
print(settings["line"], flush=True)
if settings.get("crash"):
    sys.exit(3)
if settings.get("echo"):
    print("echo " + sys.stdin.readline().strip(), flush=True)
time.sleep(60)
"""


def _script(tmp_path: Path) -> Path:
    path = tmp_path / "child.py"
    path.write_text(SCRIPT)
    return path


def test_waits_for_a_line_and_stops_with_sigterm(tmp_path: Path) -> None:
    child = ScriptProcess(_script(tmp_path), {"line": "READY", "exit_code": 7}, tmp_path, "c1")
    try:
        child.wait_for_line("READY", 20)
        assert child.stop() == 7
        assert "some diagnostics" in child.stderr_tail()
    finally:
        child.kill()
    child.kill()  # idempotent


def test_an_early_exit_fails_the_wait_with_its_stderr(tmp_path: Path) -> None:
    child = ScriptProcess(
        _script(tmp_path), {"line": "x", "exit_code": 0, "crash": True}, tmp_path, "c2"
    )
    try:
        with pytest.raises(AssertionError, match="c2 did not print READY") as caught:
            child.wait_for_line("READY", 20)
        assert "some diagnostics" in str(caught.value)
    finally:
        child.kill()


def test_kill_ends_the_process_at_once(tmp_path: Path) -> None:
    child = ScriptProcess(_script(tmp_path), {"line": "READY", "exit_code": 0}, tmp_path, "c3")
    child.wait_for_line("READY", 20)
    child.kill()
    assert child.process.returncode == -signal.SIGKILL


def test_lines_go_in_and_come_out_and_a_silent_script_fails_the_wait(tmp_path: Path) -> None:
    settings = {"line": "READY", "exit_code": 0, "echo": True}
    child = ScriptProcess(_script(tmp_path), settings, tmp_path, "c4")
    try:
        assert child.next_line(20) == "hello"
        assert child.next_line(20) == "READY"
        child.send("ping")
        assert child.next_line(20) == "echo ping"
        with pytest.raises(AssertionError, match=r"c4 printed nothing within 0.2 s"):
            child.next_line(0.2)
    finally:
        child.kill()
