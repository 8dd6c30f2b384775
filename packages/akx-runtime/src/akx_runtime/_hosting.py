"""The agents this worker hosts: factories, instances and their serializers."""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from autogen_core import Agent, AgentId, AgentInstantiationContext, AgentRuntime, AgentType

from ._payloads import PayloadCodec

__all__ = ["AgentHost", "AgentFactory"]

logger = logging.getLogger("autogen_kafka_extension.runtimes.kafka_agent_runtime")

T = TypeVar("T", bound=Agent)
AgentFactory = Callable[[], Agent | Awaitable[Agent]]


def _instance_only_factory() -> Agent:
    raise RuntimeError(
        "this agent type was registered with register_agent_instance(); only the registered "
        "instances exist, so a message for another key of this type cannot be delivered"
    )


class AgentHost:
    """Agent factories and live instances of one worker, as in SingleThreadedAgentRuntime."""

    def __init__(self, runtime: AgentRuntime, payloads: PayloadCodec) -> None:
        self._runtime = runtime
        self._payloads = payloads
        self._factories: dict[str, Callable[[], Any]] = {}
        self._instance_types: dict[str, type[Agent]] = {}
        self._expected: dict[str, type[Any]] = {}
        self._instances: dict[AgentId, Agent] = {}

    @property
    def agent_types(self) -> list[str]:
        """Agent types with a factory or instance here."""
        return list(self._factories)

    def hosts(self, agent_type: str) -> bool:
        """Whether this worker hosts ``agent_type``."""
        return agent_type in self._factories

    @property
    def instances(self) -> dict[AgentId, Agent]:
        """Agents instantiated so far."""
        return self._instances

    def add_factory(
        self, agent_type: str | AgentType, factory: Callable[[], Any], expected: type[Any] | None
    ) -> AgentType:
        """Register a factory (``AgentRuntime.register_factory``)."""
        name = agent_type.type if isinstance(agent_type, AgentType) else agent_type
        if name in self._factories:
            raise ValueError(f"Agent with type {name} already exists.")
        self._factories[name] = factory
        if expected is not None:
            self._expected[name] = expected
            self._add_handled_types(expected)
        return AgentType(name)

    async def add_instance(self, agent: Agent, agent_id: AgentId) -> AgentId:
        """Register an instance (``AgentRuntime.register_agent_instance``)."""
        if agent_id in self._instances:
            raise ValueError(f"Agent with id {agent_id} already exists.")
        existing = self._factories.get(agent_id.type)
        if existing is None:
            self._factories[agent_id.type] = _instance_only_factory
            self._instance_types[agent_id.type] = type(agent)
        elif existing is not _instance_only_factory:
            raise ValueError(
                "Agent factories and agent instances cannot be registered to the same type."
            )
        elif self._instance_types[agent_id.type] is not type(agent):
            raise ValueError("Agent instances must be the same object type.")
        await agent.bind_id_and_runtime(id=agent_id, runtime=self._runtime)
        self._instances[agent_id] = agent
        self._add_handled_types(type(agent))
        return agent_id

    def _add_handled_types(self, cls: type[Any]) -> None:
        handles = getattr(cls, "_handles_types", None)
        if handles is None:
            return
        try:
            for _message_type, serializers in handles():
                self._payloads.add(serializers)
        except Exception:  # a custom agent's hook failing must not break registration
            logger.debug("could not read handled types of %s", cls, exc_info=True)

    async def get(self, agent_id: AgentId) -> Agent:
        """The instance for ``agent_id``, created by its factory on first use."""
        agent = self._instances.get(agent_id)
        if agent is not None:
            return agent
        factory = self._factories.get(agent_id.type)
        if factory is None:
            raise LookupError(f"Agent with name {agent_id.type} not found.")
        with AgentInstantiationContext.populate_context((self._runtime, agent_id)):
            agent = cast(Agent, await self._invoke(factory))
        expected = self._expected.get(agent_id.type)
        if expected is not None and not isinstance(agent, expected):
            raise ValueError(
                f"Factory registered using the wrong type: expected {expected.__name__}, "
                f"got {type(agent).__name__}"
            )
        self._instances[agent_id] = agent
        self._add_handled_types(type(agent))
        return agent

    async def _invoke(self, factory: Callable[..., Any]) -> Any:
        parameters = len(inspect.signature(factory).parameters)
        if parameters == 0:
            made = factory()
        elif parameters == 2:
            warnings.warn(
                "Agent factories that take two arguments are deprecated. Use "
                "AgentInstantiationContext instead.",
                DeprecationWarning,
                stacklevel=3,
            )
            current = AgentInstantiationContext.current_agent_id()
            made = factory(self._runtime, current)
        else:
            raise ValueError("Agent factory must take 0 or 2 arguments.")
        return await made if inspect.isawaitable(made) else made

    def made_by_factory(self, agent_id: AgentId) -> bool:
        """Whether ``agent_id`` is (or would be) created by a factory, not registered."""
        return agent_id.type in self._factories and agent_id.type not in self._instance_types

    async def evict(self, agent_id: AgentId) -> None:
        """Close and forget a factory-made agent; its factory makes a new one when needed."""
        if not self.made_by_factory(agent_id):
            return
        agent = self._instances.pop(agent_id, None)
        if agent is None:
            return
        try:
            await agent.close()
        except Exception:
            logger.exception("closing agent %s failed", agent_id)

    async def close_all(self) -> None:
        """Close every instantiated agent."""
        for agent in list(self._instances.values()):
            try:
                await agent.close()
            except Exception:
                logger.exception("closing agent %s failed", agent.id)
