"""Retry policy, and handler failures that go to the dead letters."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest
from autogen_core import AgentId, BaseAgent, MessageContext, TopicId, TypeSubscription
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from akx_dev import KafkaStack
from akx_events import ConfigurationError
from akx_events._constants import DLQ_ERROR_MESSAGE_HEADER, DLQ_ERROR_TYPE_HEADER
from akx_runtime import KafkaAgentRuntime, KafkaAgentRuntimeConfig, RetryPolicy, load_runtime_config

ConfigFactory = Callable[..., KafkaAgentRuntimeConfig]


class Flaky(BaseAgent):
    """Fails with ``error`` for the first ``failures`` runs of each message, then answers."""

    runs: ClassVar[dict[str, list[float]]] = {}

    def __init__(self, error: type[Exception], failures: int) -> None:
        super().__init__("fails a few times")
        self._error = error
        self._failures = failures

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> Any:
        runs = Flaky.runs.setdefault(message["id"], [])
        runs.append(time.monotonic())
        if len(runs) <= self._failures and not message.get("steady"):
            raise self._error(f"run {len(runs)} of {message['id']} failed")
        return f"done after {len(runs)} runs"


def _dead_letters(stack: KafkaStack, topic: str, expected: int) -> list[Any]:
    consumer = Consumer(
        {"bootstrap.servers": stack.bootstrap_servers, "group.id": "dlq-reader"}
        | stack.consumer_settings()
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in (0, 1)])
    found: list[Any] = []
    deadline = time.monotonic() + 15
    try:
        while len(found) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                found.append(message)
    finally:
        consumer.close()
    return found


async def test_retryable_errors_run_the_handler_again_with_growing_backoff(
    runtime_config: ConfigFactory,
) -> None:
    policy = RetryPolicy(max_attempts=3, initial_backoff=0.05, max_backoff=1.0)
    async with KafkaAgentRuntime(runtime_config(retry=policy)) as runtime:
        await Flaky.register(runtime, "flaky", lambda: Flaky(ConnectionError, failures=2))
        reply = await runtime.send_message({"id": "retry-ok"}, AgentId("flaky", "a"))
    assert reply == "done after 3 runs"
    runs = Flaky.runs["retry-ok"]
    gaps = [later - earlier for earlier, later in itertools.pairwise(runs)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1


async def test_retries_are_bounded_and_the_caller_gets_the_last_error(
    runtime_config: ConfigFactory,
) -> None:
    policy = RetryPolicy(max_attempts=2, initial_backoff=0.01)
    async with KafkaAgentRuntime(runtime_config(retry=policy)) as runtime:
        await Flaky.register(runtime, "flaky", lambda: Flaky(ConnectionError, failures=5))
        with pytest.raises(ConnectionError, match="run 2 of retry-bounded failed"):
            await runtime.send_message({"id": "retry-bounded"}, AgentId("flaky", "a"))
    assert len(Flaky.runs["retry-bounded"]) == 2


async def test_other_errors_are_final_at_once_and_rpc_errors_stay_off_the_dead_letters(
    kafka_stack: KafkaStack, runtime_config: ConfigFactory
) -> None:
    config = runtime_config(retry=RetryPolicy(max_attempts=5, initial_backoff=0.01))
    async with KafkaAgentRuntime(config) as runtime:
        await Flaky.register(runtime, "flaky", lambda: Flaky(ValueError, failures=1))
        with pytest.raises(ValueError, match="run 1 of not-retried failed"):
            await runtime.send_message({"id": "not-retried"}, AgentId("flaky", "a"))
        # The same agent goes on with its next message.
        assert await runtime.send_message({"id": "not-retried"}, AgentId("flaky", "a")) == (
            "done after 2 runs"
        )
    assert len(Flaky.runs["not-retried"]) == 2
    assert _dead_letters(kafka_stack, f"{config.request_topic}.flaky.dlq", 1) == []


async def test_failed_rpcs_go_to_the_dead_letters_when_asked(
    kafka_stack: KafkaStack, runtime_config: ConfigFactory
) -> None:
    config = runtime_config(dead_letter_rpc_errors=True, retry=RetryPolicy(max_attempts=1))
    async with KafkaAgentRuntime(config) as runtime:
        await Flaky.register(runtime, "flaky", lambda: Flaky(ValueError, failures=1))
        with pytest.raises(ValueError, match="run 1 of rpc-dlq"):
            await runtime.send_message({"id": "rpc-dlq"}, AgentId("flaky", "a"))
    (letter,) = _dead_letters(kafka_stack, f"{config.request_topic}.flaky.dlq", 1)
    headers = dict(letter.headers())
    assert headers[DLQ_ERROR_TYPE_HEADER] == b"ValueError"
    assert b"run 1 of rpc-dlq failed" in headers[DLQ_ERROR_MESSAGE_HEADER]


async def test_a_publish_handler_that_keeps_failing_goes_to_the_dead_letters(
    kafka_stack: KafkaStack, runtime_config: ConfigFactory
) -> None:
    config = runtime_config(retry=RetryPolicy(max_attempts=2, initial_backoff=0.01))
    async with KafkaAgentRuntime(config) as runtime:
        await Flaky.register(runtime, "flaky", lambda: Flaky(ConnectionError, failures=9))
        await runtime.add_subscription(TypeSubscription("news", "flaky"))
        await runtime.publish_message({"id": "pub-dlq"}, TopicId("news", "a"))
        await runtime.publish_message({"id": "pub-later"}, TopicId("news", "b"))
        await runtime.stop_when_idle()
    (letter, _) = sorted(
        _dead_letters(kafka_stack, f"{config.request_topic}.flaky.dlq", 2),
        key=lambda m: b"pub-dlq" not in m.value(),
    )
    assert dict(letter.headers())[DLQ_ERROR_TYPE_HEADER] == b"ConnectionError"
    # Both messages were tried twice each: the first one's failure held nothing up.
    assert len(Flaky.runs["pub-dlq"]) == 2 and len(Flaky.runs["pub-later"]) == 2


@given(
    attempts=st.integers(1, 20),
    initial=st.floats(0, 10, allow_nan=False),
    extra=st.floats(0, 100, allow_nan=False),
)
def test_backoff_grows_and_never_exceeds_the_maximum(
    attempts: int, initial: float, extra: float
) -> None:
    policy = RetryPolicy(
        max_attempts=attempts, initial_backoff=initial, max_backoff=initial + extra
    )
    delays = [policy.backoff(n) for n in range(1, attempts + 1)]
    assert delays == sorted(delays)
    assert all(initial <= d <= initial + extra for d in delays)
    assert not policy.should_retry(ConnectionError(), attempts)
    assert all(policy.should_retry(ConnectionError(), n) for n in range(1, attempts))
    assert not policy.should_retry(ValueError(), 1)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"initial_backoff": -1}, "initial_backoff"),
        ({"initial_backoff": 2, "max_backoff": 1}, "max_backoff"),
        ({"retry_on": (ValueError, "KeyError")}, "retry_on"),
        ({"retry_on": ValueError}, "retry_on"),
    ],
)
def test_bad_retry_policies_name_the_setting(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError, match=f"runtime.retry.{field}"):
        RetryPolicy(**settings)


def _yaml(tmp_path: Path, runtime: str) -> Path:
    path = tmp_path / "runtime.yml"
    path.write_text(
        "kafka:\n  name: t\n  group_id: g\n  client_id: c\n  bootstrap_servers: localhost:9092\n"
        "  schema_registry:\n"
        "    url: http://localhost:8081\nruntime:\n" + runtime
    )
    return path


def test_yaml_sets_journal_state_and_retry_policy(tmp_path: Path) -> None:
    config = load_runtime_config(
        _yaml(
            tmp_path,
            "  checkpoint_state: true\n  dead_letter_rpc_errors: true\n  retry:\n"
            "    max_attempts: 4\n    initial_backoff: 0.5\n    max_backoff: 3\n"
            "    retry_on: [ConnectionError, asyncio.TimeoutError]\n",
        )
    )
    assert config.journal and config.checkpoint_state and config.dead_letter_rpc_errors
    assert config.retry == RetryPolicy(
        max_attempts=4,
        initial_backoff=0.5,
        max_backoff=3,
        retry_on=(ConnectionError, asyncio.TimeoutError),
    )


@pytest.mark.parametrize(
    ("runtime", "message"),
    [
        ("  retry:\n    retry_on: [NoSuchError]\n", "cannot import 'NoSuchError'"),
        ("  retry:\n    retry_on: [os.path]\n", "'os.path' is not an exception type"),
        ("  retry:\n    attempts: 3\n", "unknown setting 'attempts'"),
        ("  retry: 3\n", "expected a mapping"),
        ("  journal: false\n  checkpoint_state: true\n", "need the journal"),
        ("  journal: 'yes'\n", "must be true or false"),
    ],
)
def test_yaml_errors_name_the_file_and_line(tmp_path: Path, runtime: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        load_runtime_config(_yaml(tmp_path, runtime))
    assert "runtime.yml:" in str(caught.value)


async def test_a_handler_waiting_to_retry_holds_nothing_up(runtime_config: ConfigFactory) -> None:
    policy = RetryPolicy(max_attempts=2, initial_backoff=1.0)
    async with KafkaAgentRuntime(runtime_config(retry=policy)) as runtime:
        await Flaky.register(runtime, "flaky", lambda: Flaky(ConnectionError, failures=1))
        waiting = asyncio.ensure_future(
            runtime.send_message({"id": "waits"}, AgentId("flaky", "a"))
        )
        await asyncio.sleep(0.2)
        # The same agent answers its next message while the first one waits to retry.
        steady = await runtime.send_message({"id": "steady", "steady": True}, AgentId("flaky", "a"))
        assert steady == "done after 1 runs"
        assert not waiting.done()
        assert await waiting == "done after 2 runs"
