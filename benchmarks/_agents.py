"""Messages and agents that both runtimes (akx and autogen-ext's gRPC) host alike."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from autogen_core import (
    AgentRuntime,
    BaseAgent,
    MessageContext,
    TypeSubscription,
    try_get_known_serializers_for_type,
)

PAYLOAD = "x" * 200
FANOUT_TOPICS = {1: "fan1", 10: "fan10"}
SUBSCRIBERS = 10


@dataclass
class Echo:
    text: str


@dataclass
class Work:
    spin_ms: float


@dataclass
class Done:
    pid: int


@dataclass
class Tick:
    n: int


@dataclass
class CountQuery:
    pass


@dataclass
class CountReply:
    count: int


MESSAGE_TYPES = (Echo, Work, Done, Tick, CountQuery, CountReply)


def add_serializers(runtime: Any) -> None:
    """The gRPC runtime needs a serializer per message type (akx finds dataclasses itself)."""
    for cls in MESSAGE_TYPES:
        runtime.add_message_serializer(try_get_known_serializers_for_type(cls))


class EchoAgent(BaseAgent):
    def __init__(self) -> None:
        super().__init__("echo")

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> Any:
        return message


def spin(ms: float) -> None:
    """Burn ``ms`` of CPU in pure Python (holds the GIL, like real parsing or scoring)."""
    deadline = time.process_time() + ms / 1000
    x = 0
    while time.process_time() < deadline:
        for i in range(200):
            x += i * i


class CpuAgent(BaseAgent):
    def __init__(self) -> None:
        super().__init__("cpu-bound")

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> Any:
        spin(message.spin_ms)
        return Done(pid=os.getpid())


class CountingAgent(BaseAgent):
    """Counts published ticks; answers a CountQuery with the count."""

    def __init__(self) -> None:
        super().__init__("counter")
        self.count = 0

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> Any:
        if isinstance(message, CountQuery):
            return CountReply(count=self.count)
        self.count += 1
        return None


async def host_subscribers(runtime: AgentRuntime) -> None:
    """Ten counting agent types: sub0 reads topic fan1 and fan10, sub1..sub9 fan10."""
    for i in range(SUBSCRIBERS):
        await CountingAgent.register(runtime, f"sub{i}", CountingAgent)
        await runtime.add_subscription(TypeSubscription(FANOUT_TOPICS[10], f"sub{i}"))
    await runtime.add_subscription(TypeSubscription(FANOUT_TOPICS[1], "sub0"))
