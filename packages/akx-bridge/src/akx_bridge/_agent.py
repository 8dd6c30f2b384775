"""``KafkaStreamingAgent``: an AutoGen agent whose handler is an external Kafka service."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from autogen_core import (
    AgentId,
    AgentRuntime,
    BaseAgent,
    MessageContext,
    try_get_known_serializers_for_type,
)
from autogen_core.exceptions import CantHandleException
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from ._channel import RequestChannel
from ._config import KafkaAgentConfig
from ._message_type import KafkaMessageType, check_message_type
from ._pending import BridgeStats
from ._telemetry import BridgeTelemetry

__all__ = ["KafkaStreamingAgent"]

Req = TypeVar("Req", bound=KafkaMessageType)
Resp = TypeVar("Resp", bound=KafkaMessageType)


class KafkaStreamingAgent(BaseAgent, Generic[Req, Resp]):
    """An agent that answers each ``request_type`` message with a reply from Kafka.

    The message is produced to ``config.request_topic`` (Avro, correlation id as key
    and header, ``reply-to`` header); the agent then waits for the record with the
    same correlation id on ``config.response_topic`` and returns it as a
    ``response_type`` instance. It is an ordinary AutoGen agent: register it with
    ``register_agent_instance`` or ``register_factory`` in any runtime
    (``SingleThreadedAgentRuntime`` or ``KafkaAgentRuntime``).

    Its Kafka clients start on the first message (or on an explicit :meth:`start`),
    never at construction or registration, so building and registering agents needs
    no broker; all blocking start-up work runs in threads. ``runtime.close()`` calls
    :meth:`close`, which stops them.

    Args:
        config: topics, request timeout and Kafka settings.
        description: the agent's description.
        request_type: the ``@dataclass`` (subclass of :class:`KafkaMessageType`) of
            the messages this agent handles.
        response_type: the ``@dataclass`` (subclass of :class:`KafkaMessageType`) it
            answers with.
        tracer_provider: OpenTelemetry tracer provider; the global one by default.
        meter_provider: OpenTelemetry meter provider; the global one by default.

    Raises:
        TypeError: ``config`` is not a :class:`KafkaAgentConfig`, or a message type
            is missing or not a ``@dataclass`` subclass of :class:`KafkaMessageType`
            (the message names the argument).
        UnsupportedTypeError: a field of a message type has no Avro mapping.
    """

    def __init__(
        self,
        config: KafkaAgentConfig,
        description: str,
        request_type: type[Req],
        response_type: type[Resp],
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        if not isinstance(config, KafkaAgentConfig):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"config must be a KafkaAgentConfig, got {type(config).__name__}")
        check_message_type("request_type", request_type)
        check_message_type("response_type", response_type)
        super().__init__(description)
        self._config = config
        self._request_type = request_type
        self._response_type = response_type
        self._channel: RequestChannel[Req, Resp] = RequestChannel(
            config,
            request_type,
            response_type,
            source=f"akx://bridge/{config.kafka_config.name}",
            telemetry=BridgeTelemetry(tracer_provider, meter_provider),
        )

    @property
    def config(self) -> KafkaAgentConfig:
        """The agent's configuration."""
        return self._config

    @property
    def request_type(self) -> type[Req]:
        """The type of the messages this agent handles."""
        return self._request_type

    @property
    def response_type(self) -> type[Resp]:
        """The type of the replies."""
        return self._response_type

    @property
    def instance_id(self) -> str:
        """This instance's random id; its correlation ids are ``<instance_id>.<n>``."""
        return self._channel.instance_id

    @property
    def stats(self) -> BridgeStats:
        """Counters of requests, replies, timeouts, late and dead-lettered replies."""
        return self._channel.stats()

    @property
    def late_replies(self) -> int:
        """Replies that arrived after their caller stopped waiting."""
        return self._channel.stats().late_replies

    async def bind_id_and_runtime(self, id: AgentId, runtime: AgentRuntime) -> None:
        """Bind the agent and tell the runtime how to serialize its message types.

        A distributed runtime needs the serializers to carry requests from agents on
        other workers; for an in-process runtime this is harmless.
        """
        await super().bind_id_and_runtime(id, runtime)
        for cls in (self._request_type, self._response_type):
            serializers = try_get_known_serializers_for_type(cls)
            if serializers:
                runtime.add_message_serializer(serializers)

    async def start(self) -> None:
        """Start the Kafka clients now instead of on the first message. Idempotent."""
        await self._channel.start()

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> Resp:
        """Send a ``request_type`` message to the external service and return its reply.

        Raises:
            CantHandleException: ``message`` is not a ``request_type`` instance.
            BridgeTimeoutError: no reply within ``config.request_timeout``.
            RemoteHandlerError: the service answered with an error.
            MalformedReplyError: the reply could not be decoded (it was dead-lettered).
        """
        if not isinstance(message, self._request_type):
            raise CantHandleException(
                f"{type(self).__name__} handles {self._request_type.__qualname__} messages "
                f"only, got {type(message).__qualname__}"
            )
        return await self._channel.request(message, cancellation_token=ctx.cancellation_token)

    async def save_state(self) -> Mapping[str, Any]:
        """A bridge keeps no state of its own: replies live in Kafka."""
        return {}

    async def load_state(self, state: Mapping[str, Any]) -> None:
        """Nothing to restore (see :meth:`save_state`)."""

    async def close(self) -> None:
        """Stop the Kafka clients; waiting requests fail with ``BridgeClosedError``. Idempotent."""
        await self._channel.close()
