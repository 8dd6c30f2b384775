"""``akx-dev up`` serves the stack until SIGTERM and prints where it is."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request

from confluent_kafka.admin import AdminClient

from akx_dev import free_port


def test_up_prints_addresses_serves_and_stops_on_sigterm() -> None:
    broker_port, registry_port = free_port(), free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "akx_dev._cli",
            "up",
            "--broker-port",
            str(broker_port),
            "--registry-port",
            str(registry_port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        second = process.stdout.readline().strip()
        assert first == f"bootstrap.servers=127.0.0.1:{broker_port}"
        assert second == f"schema.registry.url=http://127.0.0.1:{registry_port}"
        metadata = AdminClient({"bootstrap.servers": first.split("=", 1)[1]}).list_topics(timeout=5)
        assert metadata.brokers
        with urllib.request.urlopen(f"{second.split('=', 1)[1]}/subjects", timeout=5) as answer:
            assert json.loads(answer.read()) == []
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_up_with_a_taken_port_fails_clearly() -> None:
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        result = subprocess.run(
            [sys.executable, "-m", "akx_dev._cli", "up", "--broker-port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={**os.environ},
        )
    assert result.returncode == 1
    assert f"port {port} is in use" in result.stderr
