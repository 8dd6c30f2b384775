"""Checkpointed agent state follows its agent when partitions move between workers."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from autogen_core import AgentId, BaseAgent, MessageContext

from akx_events import ConfigurationError
from akx_runtime import (
    KafkaAgentRuntime,
    KafkaAgentRuntimeConfig,
    PoisonMessageError,
    RecipientNotFoundError,
)

ConfigFactory = Callable[..., KafkaAgentRuntimeConfig]


class Counter(BaseAgent):
    def __init__(self, worker: str) -> None:
        super().__init__("counts its messages")
        self.count = 0
        self.worker = worker

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> Any:
        self.count += 1
        return [self.count, self.worker]

    async def save_state(self) -> Mapping[str, Any]:
        return {"count": self.count}

    async def load_state(self, state: Mapping[str, Any]) -> None:
        self.count = int(state["count"])


async def _count(runtime: KafkaAgentRuntime, key: str) -> tuple[int, str]:
    count, worker = await runtime.send_message({"pid": os.getpid()}, AgentId("counter", key))
    return count, worker


async def test_counts_continue_across_rebalances_and_a_graceful_stop(
    runtime_config: ConfigFactory,
) -> None:
    keys = [f"c{n}" for n in range(6)]  # spread over both partitions
    first = KafkaAgentRuntime(runtime_config(checkpoint_state=True))
    await Counter.register(first, "counter", lambda: Counter("first"))
    caller = KafkaAgentRuntime(runtime_config())
    async with first, caller:
        for key in keys:
            for expected in (1, 2, 3):
                assert await _count(caller, key) == (expected, "first")
        # A second worker joins: the group splits the partitions between the two.
        second = KafkaAgentRuntime(runtime_config(checkpoint_state=True))
        await Counter.register(second, "counter", lambda: Counter("second"))
        async with second:
            # Rounds until both hosted some of the counters (the group moves a partition
            # once the second worker's join is through); none lost its count on the move.
            seen: set[str] = set()
            round_, deadline = 3, time.monotonic() + 30
            while seen != {"first", "second"}:
                assert time.monotonic() < deadline, f"only {seen} answered"
                round_ += 1
                for key in keys:
                    count, worker = await _count(caller, key)
                    assert count == round_
                    seen.add(worker)
            await first.stop()
            for key in keys:
                assert await _count(caller, key) == (round_ + 1, "second")


async def test_a_state_that_cannot_be_loaded_sends_the_message_to_the_dead_letters(
    runtime_config: ConfigFactory,
) -> None:
    class Picky(Counter):
        async def load_state(self, state: Mapping[str, Any]) -> None:
            raise ValueError(f"cannot use {json.dumps(dict(state))}")

    config = runtime_config(checkpoint_state=True)
    first = KafkaAgentRuntime(config)
    await Counter.register(first, "counter", lambda: Counter("first"))
    caller = KafkaAgentRuntime(runtime_config())
    async with first, caller:  # the caller starts second: it reads first's registration
        assert await _count(caller, "p") == (1, "first")
        await first.stop()
        picky = KafkaAgentRuntime(runtime_config(checkpoint_state=True))
        await Picky.register(picky, "counter", lambda: Picky("picky"))
        async with picky:
            await _until_hosted(caller)
            with pytest.raises(PoisonMessageError, match="state of counter/p cannot be loaded"):
                await _count(caller, "p")
            # Other agents of the type are not affected.
            assert await _count(caller, "q") == (1, "picky")


async def _until_hosted(caller: KafkaAgentRuntime) -> None:
    """Wait until the caller has read the new worker's registration."""
    for _ in range(100):
        try:
            await _count(caller, "probe")
            return
        except RecipientNotFoundError:
            await asyncio.sleep(0.1)
    raise AssertionError("the new worker's registration never arrived")


def test_checkpointed_states_need_the_journal(runtime_config: ConfigFactory) -> None:
    with pytest.raises(ConfigurationError, match=r"runtime\.checkpoint_state"):
        runtime_config(checkpoint_state=True, journal=False)
