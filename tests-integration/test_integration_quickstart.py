"""The zero-setup sample does its round trip on whatever stack the session uses."""

from __future__ import annotations

import subprocess
import sys

from akx_dev import KafkaStack
from akx_quickstart import round_trip


def test_round_trip_on_the_session_stack(kafka_stack: KafkaStack) -> None:
    assert round_trip(kafka_stack, count=3) == ["hello #0", "hello #1", "hello #2"]


def test_sample_command_starts_its_own_stack() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import akx_quickstart; akx_quickstart.main()"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "consumed: hello #4" in result.stdout
    assert "Round trip of 5 messages" in result.stdout
