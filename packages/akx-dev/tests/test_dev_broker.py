"""The embedded broker starts, answers, stops, and never outlives its parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from akx_dev import BrokerStartError, EmbeddedBroker


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purposes.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def test_start_answers_metadata_and_stop_is_idempotent() -> None:
    broker = EmbeddedBroker().start()
    pid = broker.pid
    assert pid is not None
    assert broker.running
    metadata = AdminClient({"bootstrap.servers": broker.bootstrap_servers}).list_topics(timeout=5)
    assert metadata.brokers, "the broker must describe itself"
    broker.stop()
    broker.stop()
    assert not broker.running
    assert not _alive(pid)
    with pytest.raises(RuntimeError, match="not running"):
        _ = broker.port


def test_taken_port_is_a_clear_error() -> None:
    with EmbeddedBroker() as first, pytest.raises(BrokerStartError, match=str(first.port)):
        EmbeddedBroker(port=first.port).start()


def test_broker_dies_with_a_sigkilled_parent() -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from akx_dev import EmbeddedBroker
        broker = EmbeddedBroker().start()
        print(broker.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    broker_pid = int(parent.stdout.readline())
    assert _alive(broker_pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 5
    while _alive(broker_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(broker_pid), "the broker outlived the process that started it"


def test_a_paused_broker_answers_nothing_until_resumed_and_still_stops() -> None:
    with EmbeddedBroker() as broker:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers, "log_level": 0})
        assert admin.list_topics(timeout=5).brokers
        broker.pause()
        pid = broker.pid
        assert pid is not None
        with open(f"/proc/{pid}/stat") as stat:
            assert stat.read().rsplit(")", 1)[1].split()[0] in ("T", "t")
        with pytest.raises(KafkaException):
            admin.list_topics(timeout=1)
        broker.resume()
        broker.resume()  # idempotent
        assert admin.list_topics(timeout=5).brokers
        del admin  # with a client connected, Tansu's own shutdown waits for it
        broker.pause()
        started = time.monotonic()
    # Stopping a paused broker does not wait out SIGTERM's timeout.
    assert time.monotonic() - started < 4
    assert not _alive(pid)
    with pytest.raises(BrokerStartError, match="not running"):
        broker.pause()
