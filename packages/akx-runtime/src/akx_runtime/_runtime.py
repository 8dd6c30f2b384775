"""``KafkaAgentRuntime``: the AutoGen ``AgentRuntime`` protocol over Kafka topics."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import logging
import sys
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar, cast

from autogen_core import (
    Agent,
    AgentId,
    AgentMetadata,
    AgentRuntime,
    AgentType,
    CancellationToken,
    DropMessage,
    InterventionHandler,
    MessageContext,
    MessageHandlerContext,
    Subscription,
    TopicId,
)
from autogen_core._runtime_impl_helpers import get_impl
from autogen_core._serialization import MessageSerializer
from autogen_core._telemetry import get_telemetry_envelope_metadata
from autogen_core.exceptions import MessageDroppedException, UndeliverableException
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, KafkaException, Message, TopicPartition
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from akx_events import (
    AgentRef,
    AkxError,
    BrokerUnavailableError,
    EventEncodeError,
    EventSerde,
    KafkaTransportError,
    RegistrationEvent,
    RequestEvent,
    ResponseEvent,
    SubscriptionEvent,
    UnknownSchemaError,
)
from akx_events._admin import ensure_topics
from akx_events._consumer import AsyncConsumer
from akx_events._producer import AsyncProducer

from ._acks import ACK, ACKS, PublishAcks, ack_reply, acked
from ._config import KafkaAgentRuntimeConfig
from ._dead_letters import DeadLetterWriter, dead_letter_topic
from ._directory import AgentDirectory, SubscriptionTable, subscription_event_fields
from ._feed import OrderedFeed
from ._hosting import AgentHost
from ._inbox import ReplyInbox
from ._journal import Journal, StoredReply
from ._payloads import PayloadCodec
from ._remote_errors import describe, rebuild
from ._request_consumer import RequestConsumer
from ._telemetry import RuntimeTelemetry, log_fields
from ._topics import TopicLayout
from .exceptions import PoisonMessageError, RequestTimeoutError, RuntimeStateError

__all__ = ["KafkaAgentRuntime", "RecipientNotFoundError"]

logger = logging.getLogger("autogen_kafka_extension.runtimes.kafka_agent_runtime")

T = TypeVar("T", bound=Agent)

_PYTHON_TYPE = "akx.python_type"
_ROUTE = "akx.route"
#: Tries to deliver one reply before its record is committed without it.
_REPLY_ATTEMPTS = 3
#: Least fetch wait of the directory consumer (milliseconds), see _start_directory.
_DIRECTORY_FETCH_WAIT_MS = 100


class RecipientNotFoundError(UndeliverableException, LookupError):
    """Raised at once when no worker hosts the recipient's agent type."""


def _ref(agent_id: AgentId | None) -> AgentRef | None:
    return AgentRef(type=agent_id.type, key=agent_id.key) if agent_id is not None else None


#: AgentIds of recently seen refs: building one checks its type with a regex.
_AGENT_IDS: dict[tuple[str, str], AgentId] = {}


def _agent_id(ref: AgentRef | None) -> AgentId | None:
    if ref is None:
        return None
    found = _AGENT_IDS.get((ref.type, ref.key))
    if found is None:
        if len(_AGENT_IDS) >= 10_000:
            _AGENT_IDS.clear()
        found = _AGENT_IDS[(ref.type, ref.key)] = AgentId(ref.type, ref.key)
    return found


class KafkaAgentRuntime(AgentRuntime):
    """An AutoGen agent runtime whose agents talk through Kafka.

    Requests for agent type ``T`` go to ``<request_topic>.T`` keyed by the agent key
    and are consumed by the group of workers hosting ``T``; replies go straight to
    the caller's own ``<response_topic>.<worker id>``; registrations and
    subscriptions live in compacted topics every worker reads from the beginning.

    Args:
        config: topics, timeouts and how to reach Kafka.
        tracer_provider: OpenTelemetry tracer provider; the global one by default.
        meter_provider: OpenTelemetry meter provider; the global one by default.
        intervention_handlers: as in ``SingleThreadedAgentRuntime``.
        ignore_unhandled_exceptions: when False, an exception raised by an event
            (publish) handler is re-raised by :meth:`stop_when_idle`.
    """

    def __init__(
        self,
        config: KafkaAgentRuntimeConfig,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        intervention_handlers: list[InterventionHandler] | None = None,
        ignore_unhandled_exceptions: bool = True,
    ) -> None:
        self._config = config
        self._kafka = config.kafka_config
        self._layout = TopicLayout(config)
        self._worker_id = config.worker_id
        self._reply_topic = self._layout.replies(self._worker_id)
        self._telemetry = RuntimeTelemetry(tracer_provider, meter_provider)
        # Message ids: a random prefix per runtime instance and a counter, unique like a
        # UUID but without a system call per message.
        self._id_prefix = uuid.uuid4().hex
        self._id_counter = itertools.count()
        self._interventions = list(intervention_handlers or [])
        self._ignore_unhandled = ignore_unhandled_exceptions
        self._payloads = PayloadCodec()
        self._host = AgentHost(self, self._payloads)
        self._directory = AgentDirectory()
        self._subscriptions = SubscriptionTable()
        self._local_subscriptions: dict[str, Subscription] = {}
        self._inbox: ReplyInbox | None = None
        self._serde: EventSerde | None = None
        self._producer: AsyncProducer | None = None
        self._dead_letters: DeadLetterWriter | None = None
        self._directory_consumer: AsyncConsumer | None = None
        self._reply_consumer: AsyncConsumer | None = None
        self._replies_started: asyncio.Future[None] | None = None
        self._request_consumers: dict[str, RequestConsumer] = {}
        self._directory_ready: asyncio.Event | None = None
        self._directory_targets: dict[tuple[str, int], int] = {}
        self._handled_ids: dict[str, None] = {}
        self._journals: dict[str, Journal] = {}
        self._acks = PublishAcks(lambda topic, ack, key: self._produce_nowait(topic, ack, key=key))
        self._agent_partitions: dict[AgentId, int] = {}
        self._background_exception: BaseException | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._feeds: list[OrderedFeed] = []
        self._state = "new"

    # ------------------------------------------------------------------ lifecycle

    @property
    def worker_id(self) -> str:
        """This worker's id (names its reply topic and its registrations)."""
        return self._worker_id

    @property
    def config(self) -> KafkaAgentRuntimeConfig:
        """The runtime's configuration."""
        return self._config

    async def __aenter__(self) -> KafkaAgentRuntime:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Create missing topics, load registrations and subscriptions, start consuming.

        Raises:
            BrokerUnavailableError: no broker answered within ``start_timeout``.
            RuntimeStateError: the runtime was already started or closed.
        """
        if self._state != "new":
            raise RuntimeStateError(f"the runtime cannot start: it is {self._state}")
        self._state = "starting"
        try:
            await self._start()
        except BaseException:
            await self._shutdown()
            self._state = "closed"
            raise
        self._state = "running"

    async def _start(self) -> None:
        kafka = self._kafka
        self._inbox = ReplyInbox()
        registry = kafka.schema_registry_config
        if registry is None:
            raise RuntimeStateError(
                "kafka.schema_registry_config is required: akx events are Avro records"
            )
        # First: an idempotent producer cannot deliver until a broker gave it a
        # producer id (AsyncProducer connects at once to get it); created here, that
        # happens while the topics and the directory are loaded.
        self._producer = AsyncProducer(
            self._producer_config(), name=f"akx-producer-{self._worker_id}"
        )
        await self._producer.start()
        await ensure_topics(
            kafka.client_config(),
            [
                *self._layout.shared_specs(),
                self._layout.reply_spec(self._worker_id),
                *[spec for t in self._host.agent_types for spec in self._layout.type_specs(t)],
            ],
            timeout=self._config.start_timeout,
        )
        self._serde = EventSerde(registry, source=f"akx/{self._worker_id}")
        await self._serde.prepare()
        self._dead_letters = DeadLetterWriter(
            self._producer,
            kafka.client_config(),
            partitions=kafka.num_partitions,
            replication_factor=kafka.replication_factor,
            timeout=self._config.start_timeout,
        )
        await self._start_directory()
        # A worker that only serves never reads its reply topic: it starts reading at
        # its first call or publish (see _await_replies), not polling the broker until then.
        if not self._host.agent_types or self._subscriptions.has_local_custom():
            await self._await_replies()
        for agent_type in self._host.agent_types:
            await self._announce_type(agent_type)
        for subscription in self._local_subscriptions.values():
            await self._announce_subscription(subscription, "add")

    async def _await_replies(self) -> None:
        """Start reading this worker's reply topic, once; later calls return at once.

        Called before a request or publication goes out, so its reply or acknowledgement
        (written after the reader pinned the topic's end) is never missed.
        """
        started = self._replies_started
        if started is None or (
            started.done() and (started.cancelled() or started.exception() is not None)
        ):
            started = self._replies_started = asyncio.ensure_future(self._start_replies())
        if not started.done():
            await asyncio.shield(started)
        else:
            started.result()

    async def _start_replies(self) -> None:
        serde = self._serde
        assert serde is not None
        replies = OrderedFeed(serde, self._on_reply_event, name=f"akx-replies-{self._worker_id}")
        consumer = AsyncConsumer(
            self._kafka.consumer_config(group_id=f"akx.replies.{self._worker_id}"),
            replies.push,
            assignment=[TopicPartition(self._reply_topic, 0, OFFSET_END)],
            name=f"akx-replies-{self._worker_id}",
        )
        try:
            await consumer.start()
        except BaseException as exc:
            await consumer.stop()
            await replies.aclose()
            if isinstance(exc, KafkaException):
                raise BrokerUnavailableError(
                    f"cannot start reading reply topic {self._reply_topic!r}: {exc}"
                ) from exc
            raise
        self._feeds.append(replies)
        self._reply_consumer = consumer

    async def _start_directory(self) -> None:
        self._directory_ready = asyncio.Event()
        serde = self._serde
        assert serde is not None
        feed = OrderedFeed(serde, self._on_directory_event, name=f"akx-directory-{self._worker_id}")
        self._feeds.append(feed)
        config = self._kafka.consumer_config(group_id=f"akx.directory.{self._worker_id}")
        # Registrations and subscriptions change rarely: a long fetch wait spares the
        # broker hundreds of empty fetches a second per worker. A broker that wakes
        # waiting fetches when data arrives (Kafka does) delivers changes at once
        # anyway; one that does not (the embedded broker) within this wait.
        config["fetch.wait.max.ms"] = max(
            int(config.get("fetch.wait.max.ms", _DIRECTORY_FETCH_WAIT_MS)),
            _DIRECTORY_FETCH_WAIT_MS,
        )
        consumer = AsyncConsumer(
            config,
            feed.push,
            assignment=[
                TopicPartition(self._layout.registry, 0, OFFSET_BEGINNING),
                TopicPartition(self._layout.subscriptions, 0, OFFSET_BEGINNING),
            ],
            name=f"akx-directory-{self._worker_id}",
        )
        self._directory_consumer = consumer
        await consumer.start()
        # Read both topics up to their current end before start() returns, so this
        # worker knows every type and subscription registered before it.
        marks = consumer.start_watermarks
        self._directory_targets = {tp: end for tp, end in marks.items() if end > 0}
        if not self._directory_targets:
            self._directory_ready.set()
        await asyncio.wait_for(self._directory_ready.wait(), self._config.start_timeout)

    def _producer_config(self) -> dict[str, Any]:
        config = self._kafka.producer_config()
        # A record not delivered within the request timeout is of no use to anyone (its
        # caller gave up); librdkafka's default would hold publishes and registrations
        # for five minutes while the broker is away.
        if "delivery.timeout.ms" not in config:
            timeout_ms = int(max(self._config.request_timeout, 5) * 1000)
            config.setdefault("message.timeout.ms", timeout_ms)
        return config

    def _trace_metadata(self) -> dict[str, str]:
        # autogen-core's envelope lookup costs tens of µs; without spans it finds nothing.
        return _envelope_trace_metadata() if self._telemetry.tracing else {}

    def _check_running(self) -> None:
        if self._state != "running":
            raise RuntimeStateError(f"the runtime is {self._state}; call start() first")

    async def stop(self) -> None:
        """Unregister, drain in-flight work, then close consumers and producer. Idempotent."""
        if self._state in ("new", "stopped", "closed"):
            return
        self._state = "stopping"
        try:
            await self._shutdown()
        finally:
            self._state = "stopped"

    async def _shutdown(self) -> None:
        producer = self._producer
        if producer is not None and producer.started:
            await self._withdraw()
        for consumer in list(self._request_consumers.values()):
            await consumer.stop()
        self._request_consumers.clear()
        if self._inbox is not None:
            self._inbox.fail_all(RuntimeStateError("the runtime stopped before the reply arrived"))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        starting = self._replies_started
        if starting is not None and not starting.done():
            await asyncio.gather(starting, return_exceptions=True)
        for consumer in (self._reply_consumer, self._directory_consumer):
            if consumer is not None:
                await consumer.stop()
        for feed in self._feeds:
            await feed.aclose()
        if producer is not None:
            await producer.stop()
        if self._serde is not None:
            self._serde.close()

    async def _withdraw(self) -> None:
        """Tell the others this worker no longer hosts its types and subscriptions."""
        try:
            sends = [self._send_registration(t, "unregister") for t in self._host.agent_types]
            sends += [
                self._announce_subscription(s, "remove") for s in self._local_subscriptions.values()
            ]
            await asyncio.wait_for(asyncio.gather(*sends), 10)
        except Exception:
            logger.warning(
                "could not withdraw registrations of worker %s", self._worker_id, exc_info=True
            )

    async def stop_when_idle(self) -> None:
        """Wait until no call is pending and no message is being handled here, then stop.

        Raises:
            BaseException: with ``ignore_unhandled_exceptions=False``, the first
                exception an event handler raised.
        """
        self._check_running()
        await self._wait_idle()
        await self.stop()
        self._raise_background()

    async def stop_when(self, condition: Callable[[], bool], check_period: float = 0.1) -> None:
        """Stop once ``condition()`` is true (checked every ``check_period`` seconds)."""
        self._check_running()
        while not condition():
            await asyncio.sleep(check_period)
        await self.stop()
        self._raise_background()

    def _raise_background(self) -> None:
        exc, self._background_exception = self._background_exception, None
        if exc is not None:
            raise exc

    async def _wait_idle(self) -> None:
        inbox = self._inbox
        assert inbox is not None
        # Handling one message may send the next; idle means idle twice in a row.
        quiet_rounds = 0
        while quiet_rounds < 2:
            await inbox.wait_idle()
            for consumer in list(self._request_consumers.values()):
                await consumer.wait_idle()
            await asyncio.sleep(0.02)
            busy = len(inbox) or any(c.busy for c in self._request_consumers.values())
            quiet_rounds = 0 if busy else quiet_rounds + 1

    async def close(self) -> None:
        """Stop (if running) and close every agent instance. Idempotent."""
        await self.stop()
        if self._state != "closed":
            self._state = "closed"
            await self._host.close_all()

    # ---------------------------------------------------------------- registration

    async def register_factory(
        self,
        type: str | AgentType,
        agent_factory: Callable[[], T | Awaitable[T]],
        *,
        expected_class: type[T] | None = None,
    ) -> AgentType:
        """Host an agent type here, created by ``agent_factory`` per agent key."""
        agent_type = self._host.add_factory(type, agent_factory, expected_class)
        if self._state == "running":
            await self._host_type_now(agent_type.type)
        return agent_type

    async def register_agent_instance(self, agent_instance: Agent, agent_id: AgentId) -> AgentId:
        """Host one agent instance here under ``agent_id``."""
        new_type = not self._host.hosts(agent_id.type)
        await self._host.add_instance(agent_instance, agent_id)
        if new_type and self._state == "running":
            await self._host_type_now(agent_id.type)
        return agent_id

    async def _host_type_now(self, agent_type: str) -> None:
        await ensure_topics(self._kafka.client_config(), self._layout.type_specs(agent_type))
        await self._announce_type(agent_type)

    async def _announce_type(self, agent_type: str) -> None:
        producer = self._producer
        assert producer is not None
        topic = self._layout.requests(agent_type)
        group = self._layout.request_group(agent_type)
        consumer = RequestConsumer(
            agent_type=agent_type,
            topic=topic,
            consumer_config={
                # A new group must not skip requests sent before it was assigned.
                **self._kafka.consumer_config(group_id=group),
                "auto.offset.reset": "earliest",
                **self._telemetry.consumer_settings(
                    agent_type, self._kafka.consumer_config(group_id=group)
                ),
            },
            handle=self._telemetry.record_handler(agent_type, self._on_request_record),
            journal=self._journal_for(agent_type) if self._config.journal else None,
            resend=self._send_reply,  # a journaled reply again; callers ignore copies
            state_topic=self._layout.states(agent_type) if self._config.checkpoint_state else None,
            on_revoked=self._forget_agents,
            max_in_flight=self._config.max_in_flight,
        )
        self._request_consumers[agent_type] = consumer
        await consumer.start()
        await self._send_registration(agent_type, "register")

    async def _send_registration(self, agent_type: str, action: str) -> None:
        event = RegistrationEvent(
            agent_type=agent_type, worker_id=self._worker_id, action=cast(Any, action)
        )
        self._directory.apply(event)
        self._telemetry.registered(agent_type, action)
        await self._produce(self._layout.registry, event, key=f"{agent_type}/{self._worker_id}")

    async def add_subscription(self, subscription: Subscription) -> None:
        """Add a subscription; type and type-prefix ones are shared with every worker."""
        # As SingleThreadedAgentRuntime: an equal subscription (same topic and agent
        # types) under another id is a duplicate too. Only this worker's own count: other
        # workers running the same code add the same subscriptions (even ids) of their own.
        if subscription.id in self._local_subscriptions or any(
            s == subscription for s in self._local_subscriptions.values()
        ):
            raise ValueError("Subscription already exists")
        self._local_subscriptions[subscription.id] = subscription
        if subscription_event_fields(subscription) is None:
            self._subscriptions.add_local_custom(subscription)
            if self._state == "running":
                await self._await_replies()  # publishers route its messages there
        if self._state == "running":
            await self._announce_subscription(subscription, "add")

    async def remove_subscription(self, id: str) -> None:
        """Remove a subscription added by this worker."""
        subscription = self._local_subscriptions.pop(id, None)
        if subscription is None:
            raise ValueError("Subscription does not exist")
        self._subscriptions.remove_local_custom(id)
        if self._state == "running":
            await self._announce_subscription(subscription, "remove")

    async def _announce_subscription(self, subscription: Subscription, action: str) -> None:
        fields = subscription_event_fields(subscription)
        kind, topic_type = fields if fields is not None else ("custom", "")
        agent_type = getattr(subscription, "agent_type", "") if fields is not None else ""
        event = SubscriptionEvent(
            subscription_id=subscription.id,
            kind=cast(Any, kind),
            topic_type=topic_type,
            agent_type=agent_type,
            worker_id=self._worker_id,
            action=cast(Any, action),
        )
        self._subscriptions.apply(event)
        await self._produce(
            self._layout.subscriptions, event, key=f"{subscription.id}/{self._worker_id}"
        )

    def add_message_serializer(
        self, serializer: MessageSerializer[Any] | Sequence[MessageSerializer[Any]]
    ) -> None:
        """Teach the runtime to (de)serialize a message type."""
        self._payloads.add(list(serializer) if isinstance(serializer, Sequence) else serializer)

    # ------------------------------------------------------------------- messaging

    def _next_message_id(self) -> str:
        return f"{self._id_prefix}-{next(self._id_counter)}"

    def _span(self, *args: Any, **kwargs: Any) -> contextlib.AbstractContextManager[Any]:
        # Free when nobody records spans; see RuntimeTelemetry.span.
        return self._telemetry.span(*args, **kwargs)

    async def send_message(
        self,
        message: Any,
        recipient: AgentId,
        *,
        sender: AgentId | None = None,
        cancellation_token: CancellationToken | None = None,
        message_id: str | None = None,
    ) -> Any:
        """Send ``message`` to ``recipient`` and return its reply.

        Raises:
            RecipientNotFoundError: no worker hosts ``recipient.type`` (at once).
            RequestTimeoutError: no reply within the request timeout.
            MessageDroppedException: an intervention handler dropped the message.
            asyncio.CancelledError: ``cancellation_token`` was cancelled.
            Exception: the handler's exception, rebuilt with its type where importable.
        """
        self._check_running()
        token = cancellation_token or CancellationToken()
        message_id = message_id or self._next_message_id()
        with self._telemetry.rpc(
            recipient,
            topic=self._layout.requests(recipient.type),
            message_id=message_id,
            message_type=type(message).__name__,
        ):
            for handler in self._interventions:
                ctx = MessageContext(
                    sender=sender,
                    topic_id=None,
                    is_rpc=True,
                    cancellation_token=token,
                    message_id=message_id,
                )
                message = await handler.on_send(message, message_context=ctx, recipient=recipient)
                if message is DropMessage or isinstance(message, DropMessage):
                    raise MessageDroppedException()
            if not (self._directory.is_hosted(recipient.type) or self._host.hosts(recipient.type)):
                raise RecipientNotFoundError(
                    f"Agent type '{recipient.type}' is not hosted by any worker."
                )
            payload = self._payloads.encode(message)
            if self._reply_consumer is None:
                await self._await_replies()
            inbox = self._inbox
            assert inbox is not None
            future = inbox.expect(message_id)
            event = RequestEvent(
                message_id=message_id,
                kind="rpc_request",
                payload=payload.data,
                type_name=payload.type_name,
                data_content_type=payload.data_content_type,
                recipient=AgentRef(type=recipient.type, key=recipient.key),
                sender=_ref(sender),
                reply_to=self._reply_topic,
                metadata={_PYTHON_TYPE: payload.python_type, **self._trace_metadata()},
            )
            try:
                delivery = self._produce_nowait(
                    self._layout.requests(recipient.type), event, key=recipient.key
                )
            except BaseException:
                future.cancel()
                raise
            delivery.add_done_callback(lambda d: _fail_on_delivery_error(d, future))
            token.link_future(future)
            # A timer on the future itself: cheaper than wait_for's extra future per call.
            timer = asyncio.get_running_loop().call_later(
                self._config.request_timeout, _expire_reply, future
            )
            try:
                result = await future
            except _ReplyExpired:
                raise RequestTimeoutError(
                    message_id,
                    str(recipient),
                    self._config.request_timeout,
                    _position(delivery),
                ) from None
            finally:
                timer.cancel()
            sender_of_reply = recipient
            for handler in self._interventions:
                result = await handler.on_response(result, sender=sender_of_reply, recipient=sender)
                if result is DropMessage or isinstance(result, DropMessage):
                    raise MessageDroppedException()
            return result

    async def publish_message(
        self,
        message: Any,
        topic_id: TopicId,
        *,
        sender: AgentId | None = None,
        cancellation_token: CancellationToken | None = None,
        message_id: str | None = None,
    ) -> None:
        """Deliver ``message`` to every agent subscribed to ``topic_id``, once each.

        Returns when the broker acknowledged every copy; handlers run afterwards.
        """
        self._check_running()
        token = cancellation_token or CancellationToken()
        message_id = message_id or self._next_message_id()
        with self._span(
            "create",
            topic_id,
            parent=None,
            extraAttributes={"message_type": type(message).__name__},
        ):
            for handler in self._interventions:
                ctx = MessageContext(
                    sender=sender,
                    topic_id=topic_id,
                    is_rpc=False,
                    cancellation_token=token,
                    message_id=message_id,
                )
                message = await handler.on_publish(message, message_context=ctx)
                if message is DropMessage or isinstance(message, DropMessage):
                    return
            payload = self._payloads.encode(message)
            if self._reply_consumer is None:
                await self._await_replies()
            metadata = {_PYTHON_TYPE: payload.python_type, **self._trace_metadata()}

            def event_for(recipient: AgentId | None, extra: Mapping[str, str] = {}) -> RequestEvent:
                return RequestEvent(
                    message_id=message_id,
                    kind="publish",
                    payload=payload.data,
                    type_name=payload.type_name,
                    data_content_type=payload.data_content_type,
                    recipient=_ref(recipient),
                    sender=_ref(sender),
                    reply_to=self._reply_topic if recipient is not None else None,
                    topic_type=topic_id.type,
                    topic_source=topic_id.source,
                    metadata={**metadata, **extra},
                )

            recipients = self._subscriptions.recipients(topic_id)
            for subscription_id, owner in self._subscriptions.custom_routes(topic_id).items():
                if owner == self._worker_id:
                    recipients += self._subscriptions.local_custom_recipients(
                        subscription_id, topic_id
                    )
                else:
                    route = event_for(None, {_ROUTE: subscription_id})
                    await self._produce(self._layout.replies(owner), route, key=message_id)
            await self._fan_out(recipients, sender, event_for)
            # A copy for observers outside the runtime; nobody waits for it.
            if self._layout.publish is not None:
                copy = self._produce_nowait(
                    self._layout.publish, event_for(None), key=topic_id.source
                )
                copy.add_done_callback(_log_failed_reply)

    async def _fan_out(
        self,
        recipients: Sequence[AgentId],
        sender: AgentId | None,
        event_for: Callable[[AgentId | None], RequestEvent],
    ) -> None:
        inbox = self._inbox
        assert inbox is not None
        deliveries: list[asyncio.Future[Message]] = []
        acks: list[asyncio.Future[Any]] = []
        try:
            for recipient in dict.fromkeys(recipients):
                if sender is not None and recipient == sender:
                    continue
                if not (
                    self._directory.is_hosted(recipient.type) or self._host.hosts(recipient.type)
                ):
                    logger.warning(
                        "published message not delivered to %s: no worker hosts its type",
                        recipient,
                    )
                    continue
                event = event_for(recipient)
                ack = inbox.expect(_ack_id(event.message_id, recipient.type, recipient.key))
                acks.append(ack)
                try:
                    delivery = self._produce_nowait(
                        self._layout.requests(recipient.type), event, key=recipient.key
                    )
                except BaseException:
                    ack.cancel()  # never sent: nothing to wait for
                    raise
                deliveries.append(delivery)
        finally:
            # Also when a copy could not be produced: the copies sent before it are
            # acknowledged as usual, or forgotten after the timeout.
            if acks:
                _forget_late(acks, self._config.request_timeout)
        if deliveries:
            await asyncio.gather(*deliveries)

    def _track(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------- producing

    def _produce_nowait(self, topic: str, event: Any, *, key: str) -> asyncio.Future[Message]:
        producer, serde = self._producer, self._serde
        assert producer is not None and serde is not None
        trace_headers = self._telemetry.trace_headers()
        value, headers = serde.encode(event, topic=topic, extra_headers=trace_headers)
        return producer.produce(topic, value, key=key.encode(), headers=headers)

    async def _produce(self, topic: str, event: Any, *, key: str) -> Message:
        producer, serde = self._producer, self._serde
        assert producer is not None and serde is not None
        trace_headers = self._telemetry.trace_headers()
        value, headers = serde.encode(event, topic=topic, extra_headers=trace_headers)
        return await producer.send(topic, value, key=key.encode(), headers=headers)

    async def _decode(self, message: Message) -> Any:
        serde = self._serde
        assert serde is not None
        headers = cast("list[tuple[str, bytes | None]] | None", message.headers())
        try:
            return serde.decode(message.value(), headers)
        except UnknownSchemaError:
            return await serde.decode_async(message.value(), headers)

    # ------------------------------------------------------------------- consuming

    def _on_directory_event(self, message: Message, event: Any) -> None:
        if isinstance(event, RegistrationEvent):
            self._directory.apply(event)
        elif isinstance(event, SubscriptionEvent) and event.worker_id != self._worker_id:
            self._subscriptions.apply(event)
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        target = self._directory_targets.get((cast(str, topic), cast(int, partition)))
        if target is not None and cast(int, offset) + 1 >= target:
            del self._directory_targets[(cast(str, topic), cast(int, partition))]
            if not self._directory_targets and self._directory_ready is not None:
                self._directory_ready.set()

    def _on_reply_event(self, message: Message, event: Any) -> None:
        if isinstance(event, RequestEvent):  # a custom-subscription route
            self._track(self._route_custom(event))
            return
        if not isinstance(event, ResponseEvent):
            return
        inbox = self._inbox
        assert inbox is not None
        if event.metadata.get(ACK):
            if ACKS in event.metadata:
                self._settle_acks(event)
                return
            error = rebuild(event.error) if event.error is not None else None
            if (
                error is not None
                and not self._ignore_unhandled
                and self._background_exception is None
            ):
                self._background_exception = error
            inbox.settle(
                _ack_id(event.message_id, event.sender.type, event.sender.key),
                lambda f: f.set_result(None),
            )
            return
        if event.error is not None:
            exc = rebuild(event.error)
            inbox.settle(event.message_id, lambda f: f.set_exception(exc))
            return
        try:
            value = self._payloads.decode(
                event.payload,
                type_name=event.type_name,
                data_content_type=event.data_content_type,
                python_type=event.metadata.get(_PYTHON_TYPE),
            )
        except Exception as exc:
            failure = exc
            inbox.settle(event.message_id, lambda f: f.set_exception(failure))
            return
        inbox.settle(event.message_id, lambda f: f.set_result(value))

    def _settle_acks(self, event: ResponseEvent) -> None:
        inbox = self._inbox
        assert inbox is not None
        try:
            entries = list(acked(event.metadata))
        except ValueError:
            logger.warning(
                "unreadable acknowledgements in reply %s", event.message_id, exc_info=True
            )
            return
        for message_id, agent_type, key in entries:
            inbox.settle(_ack_id(message_id, agent_type, key), _set_none)

    async def _route_custom(self, event: RequestEvent) -> None:
        subscription_id = event.metadata.get(_ROUTE, "")
        topic = TopicId(event.topic_type or "", event.topic_source or "")
        recipients = self._subscriptions.local_custom_recipients(subscription_id, topic)
        sender = _agent_id(event.sender)
        message = self._payloads.decode(
            event.payload,
            type_name=event.type_name,
            data_content_type=event.data_content_type,
            python_type=event.metadata.get(_PYTHON_TYPE),
        )
        del message  # decoded only to prove it is readable before fanning out
        for recipient in recipients:
            if sender is not None and recipient == sender:
                continue
            routed = RequestEvent(
                message_id=event.message_id,
                kind="publish",
                payload=event.payload,
                type_name=event.type_name,
                data_content_type=event.data_content_type,
                recipient=_ref(recipient),
                sender=event.sender,
                reply_to=None,
                topic_type=event.topic_type,
                topic_source=event.topic_source,
                metadata=event.metadata,
            )
            await self._produce(self._layout.requests(recipient.type), routed, key=recipient.key)

    async def _on_request_record(self, message: Message) -> asyncio.Future[Any] | None:
        try:
            event = await self._decode(message)
        except Exception as exc:
            return await self._dead_letter(message, exc)
        if not isinstance(event, RequestEvent) or event.recipient is None:
            what = "request without recipient" if isinstance(event, RequestEvent) else "record"
            return await self._dead_letter(
                message,
                PoisonMessageError(f"a {type(event).__name__} {what} is not an agent request"),
            )
        # A record seen again (redelivered after a rebalance) is not run twice. Keyed by
        # the record's position, not by message id alone: a caller may send a new message
        # under an id it used before, and SingleThreadedAgentRuntime handles that too.
        dedup_key = f"{event.message_id}@{message.topic()}/{message.partition()}/{message.offset()}"
        if dedup_key in self._handled_ids:
            logger.info("request %s was already handled here; not running it again", dedup_key)
            return None
        delivery = await self._handle_request(message, event)
        self._handled_ids[dedup_key] = None
        if len(self._handled_ids) > 100_000:  # bounded: forget the oldest
            del self._handled_ids[next(iter(self._handled_ids))]
        return delivery

    async def _dead_letter(
        self, record: Message, error: BaseException, event: RequestEvent | None = None
    ) -> asyncio.Future[Any] | None:
        """Copy a poison record to its dead-letter topic and tell a waiting caller why.

        The returned future ends when the copy and the error reply are acknowledged, so
        the record's offset is committed like a handled one and the partition moves on.
        """
        deliveries = await self._copy_to_dead_letters(record, error)
        if event is not None and event.reply_to is not None and event.recipient is not None:
            info = describe(error)
            where = dead_letter_topic(cast(str, record.topic()))
            info = dataclasses.replace(info, message=f"{info.message} (copied to {where})")
            rpc = event.kind == "rpc_request"
            response = ResponseEvent(
                message_id=event.message_id,
                sender=event.recipient,
                recipient=event.sender,
                error=info,
                metadata={} if rpc else {ACK: "publish"},
            )
            try:
                deliveries.append(
                    self._produce_nowait(event.reply_to, response, key=event.message_id)
                )
            except Exception:
                logger.error("could not send the error reply to %s", event.reply_to, exc_info=True)
        elif (
            event is not None
            and event.kind != "rpc_request"
            and not self._ignore_unhandled
            and self._background_exception is None
        ):
            self._background_exception = error
        if not deliveries:
            return None
        return asyncio.gather(*deliveries, return_exceptions=True)

    def _decode_payload(self, event: RequestEvent) -> Any:
        message = self._payloads.decode(
            event.payload,
            type_name=event.type_name,
            data_content_type=event.data_content_type,
            python_type=event.metadata.get(_PYTHON_TYPE),
        )
        if self._payloads.is_unknown(message):
            raise PoisonMessageError(
                f"no serializer here for payload type {event.type_name!r} "
                f"({event.data_content_type})"
            )
        return message

    async def _handle_request(
        self, record: Message, event: RequestEvent
    ) -> asyncio.Future[Any] | None:
        assert event.recipient is not None
        recipient = _agent_id(event.recipient)
        assert recipient is not None
        sender = _agent_id(event.sender)
        is_rpc = event.kind == "rpc_request"
        topic_id = TopicId(event.topic_type or "", event.topic_source or "") if not is_rpc else None
        partition = cast(int, record.partition())
        # A record no retry can fix (its payload is unreadable here, its agent cannot be
        # created or its saved state not loaded) goes to the dead letters instead of
        # failing again on every worker.
        try:
            agent = await self._agent_for(recipient, partition)
            message = self._decode_payload(event)
        except Exception as exc:
            return await self._dead_letter(record, exc, event)
        result: Any = None
        error: BaseException | None = None
        # Linked to the sender's "create" span, as SingleThreadedAgentRuntime links them.
        with self._span("process", recipient, parent=event.metadata):
            try:
                result = await self._run_handler(agent, message, event, sender, topic_id)
            except (Exception, asyncio.CancelledError) as exc:
                if isinstance(exc, asyncio.CancelledError) and _task_cancelling():
                    raise  # the runtime is stopping this lane
                # A handler may also end with CancelledError of its own (a nested call it
                # cancelled): the caller gets it, as from SingleThreadedAgentRuntime.
                error = exc
                self._telemetry.handler_failed(exc)
                if not is_rpc:
                    logger.error(
                        "error processing publish message for %s",
                        recipient,
                        exc_info=True,
                        extra=log_fields(
                            record, agent_id=str(recipient), message_id=event.message_id
                        ),
                    )
                    if (
                        event.reply_to is None
                        and not self._ignore_unhandled
                        and self._background_exception is None
                    ):
                        self._background_exception = exc
        after: list[asyncio.Future[Any]] = []
        if error is not None and (not is_rpc or self._config.dead_letter_rpc_errors):
            after += await self._copy_to_dead_letters(record, error)
        reply = self._reply(event, recipient, result, error)
        state = await self._saved_state(agent) if self._config.checkpoint_state else None
        consumer = self._request_consumers.get(recipient.type)
        if not self._config.journal or consumer is None:
            if reply is not None:
                after.append(self._send_reply(reply))
            return _all_of(after)
        # The journal entry (with the reply) first: once it reaches the broker, this
        # request is never run again, even if this worker dies before the reply is sent.
        journal = self._journal_for(recipient.type)
        try:
            entry = journal.handled(
                partition=partition,
                offset=cast(int, record.offset()),
                key=record.key(),
                reply=reply,
                state=state,
            )
        except Exception:
            logger.error("could not journal message %s", event.message_id, exc_info=True)
            if reply is not None:
                after.append(self._send_reply(reply))
            return _all_of(after)
        after.append(self._after_journal(entry, consumer, record, recipient, reply, state))
        return _all_of(after)

    async def _agent_for(self, agent_id: AgentId, partition: int) -> Agent:
        """The agent, created here if needed with the state it last checkpointed."""
        created = agent_id not in self._host.instances
        agent = await self._host.get(agent_id)
        if self._config.checkpoint_state:
            self._agent_partitions[agent_id] = partition
            consumer = self._request_consumers.get(agent_id.type)
            saved = consumer.saved_state(partition, agent_id.key) if consumer else None
            if created and saved is not None:
                try:
                    await agent.load_state(json.loads(saved))
                except Exception as exc:
                    await self._host.evict(agent_id)
                    raise PoisonMessageError(
                        f"the checkpointed state of {agent_id} cannot be loaded: {exc!r}"
                    ) from exc
        return agent

    async def _run_handler(
        self,
        agent: Agent,
        message: Any,
        event: RequestEvent,
        sender: AgentId | None,
        topic_id: TopicId | None,
    ) -> Any:
        """Run the agent's handler, again after a backoff while the retry policy says so."""
        policy = self._config.retry
        attempt = 1
        while True:
            ctx = MessageContext(
                sender=sender,
                topic_id=topic_id,
                is_rpc=topic_id is None,
                cancellation_token=CancellationToken(),
                message_id=event.message_id,
            )
            try:
                with MessageHandlerContext.populate_context(agent.id):
                    return await agent.on_message(message, ctx=ctx)
            except Exception as exc:
                if not policy.should_retry(exc, attempt):
                    raise
                delay = policy.backoff(attempt)
                logger.warning(
                    "handler of %s failed (attempt %d of %d), retrying in %.2f s: %r",
                    agent.id,
                    attempt,
                    policy.max_attempts,
                    delay,
                    exc,
                )
                attempt += 1
                await asyncio.sleep(delay)

    async def _saved_state(self, agent: Agent) -> bytes | None:
        try:
            return json.dumps(dict(await agent.save_state())).encode()
        except Exception:
            logger.error("could not checkpoint the state of %s", agent.id, exc_info=True)
            return None

    async def _copy_to_dead_letters(
        self, record: Message, error: BaseException
    ) -> list[asyncio.Future[Any]]:
        self._telemetry.dead_lettered(record, error)
        writer = self._dead_letters
        assert writer is not None
        try:
            return [await writer.send(record, error)]
        except Exception:
            logger.error(
                "could not copy request record %s[%s]@%s to its dead-letter topic",
                record.topic(),
                record.partition(),
                record.offset(),
                exc_info=True,
            )
            return []

    def _reply(
        self, event: RequestEvent, recipient: AgentId, result: Any, error: BaseException | None
    ) -> StoredReply | None:
        """The encoded reply to ``event``, or None when nobody waits for one."""
        if event.reply_to is None:
            return None
        if event.kind == "rpc_request":
            response = self._response(event, recipient, result, error)
        elif error is None:
            # Sent in a batch with the others of this loop iteration (see _acks).
            return ack_reply(
                event.reply_to, event.message_id, AgentRef(type=recipient.type, key=recipient.key)
            )
        else:
            response = ResponseEvent(
                message_id=event.message_id,
                sender=AgentRef(type=recipient.type, key=recipient.key),
                recipient=event.sender,
                error=describe(error),
                metadata={ACK: "publish"},
            )
        serde = self._serde
        assert serde is not None
        trace_headers = self._telemetry.trace_headers()
        try:
            value, headers = serde.encode(
                response, topic=event.reply_to, extra_headers=trace_headers
            )
        except EventEncodeError as exc:
            # A result too large (or otherwise unencodable) must not leave its caller
            # waiting out the timeout: it gets the error instead.
            logger.error("the reply to message %s cannot be sent: %s", event.message_id, exc)
            failure = ResponseEvent(
                message_id=event.message_id,
                sender=response.sender,
                recipient=response.recipient,
                error=describe(exc),
                metadata={k: v for k, v in response.metadata.items() if k == ACK},
            )
            value, headers = serde.encode(
                failure, topic=event.reply_to, extra_headers=trace_headers
            )
        return StoredReply(
            topic=event.reply_to,
            key=event.message_id.encode(),
            value=value,
            headers=list(headers),
        )

    def _send_reply(self, reply: StoredReply) -> asyncio.Future[Any]:
        """Queue a reply without waiting for its acknowledgement.

        The agent's next message need not wait; the record's offset is committed once
        the reply is acknowledged.
        """
        batched = self._acks.send(reply)
        if batched is not None:
            return batched
        producer = self._producer
        assert producer is not None
        try:
            delivery = producer.produce(
                reply.topic, reply.value, key=reply.key, headers=reply.headers
            )
        except Exception as exc:
            logger.error("could not send the reply to %s", reply.topic, exc_info=True)
            failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            failed.set_exception(exc)
            return failed
        delivery.add_done_callback(_log_failed_reply)
        return delivery

    def _after_journal(
        self,
        entry: asyncio.Future[Message],
        consumer: RequestConsumer,
        record: Message,
        recipient: AgentId,
        reply: StoredReply | None,
        state: bytes | None,
    ) -> asyncio.Future[None]:
        """Send the reply right behind its done entry; the state once the entry is acknowledged.

        The reply does not wait for the entry's acknowledgement: what a crash can repeat
        is the same either way (a handler that finished before its entry reached the
        broker runs again), and waiting would add an acknowledged write to every call.
        The state waits: a new owner must never load a state that already includes a
        request it will run again. Callbacks, not a task: this runs for every handled
        request. The returned future completes when the entry, the reply and the state
        were delivered or given up on.
        """
        loop = asyncio.get_running_loop()
        journaled: asyncio.Future[None] = loop.create_future()
        partition, offset = cast(int, record.partition()), cast(int, record.offset())

        def written(done: asyncio.Future[Message]) -> None:
            error = None if done.cancelled() else done.exception()
            if done.cancelled() or error is not None:
                logger.error(
                    "the journal entry of %s[%s]@%s was not written; it may run again after a "
                    "failover",
                    record.topic(),
                    partition,
                    offset,
                    exc_info=error,
                )
            else:
                consumer.journaled(partition, offset, cast(int, done.result().offset()))
            if state is None:
                journaled.set_result(None)
                return
            consumer.remember_state(partition, recipient.key, state)
            producer = self._producer
            assert producer is not None
            try:
                delivery = producer.produce(
                    self._layout.states(recipient.type),
                    state,
                    key=recipient.key.encode(),
                    partition=partition,
                )
            except AkxError:  # stopped meanwhile: the state stays in the journal entry
                logger.warning("the state of %s was not checkpointed", recipient)
                journaled.set_result(None)
                return
            delivery.add_done_callback(lambda s: _set_none(journaled, retrieved=s))

        entry.add_done_callback(written)
        if reply is None:
            return journaled
        replied: asyncio.Future[None] = loop.create_future()

        def send() -> None:
            self._deliver_reply(reply).add_done_callback(lambda r: _set_none(replied, retrieved=r))

        # The journal writes its records at the end of this loop iteration (call_soon, in
        # order): scheduled after them, the reply is produced after its done entry, so
        # on one broker connection the entry is not behind the reply.
        loop.call_soon(send)
        return _both(journaled, replied)

    def _deliver_reply(self, reply: StoredReply) -> asyncio.Future[None]:
        """Send a reply, again a few times while the broker refuses it for a while.

        The record is committed after this, so a reply given up on here is lost to its
        caller (who then times out): worth a few retries before that. The returned
        future completes (without error: failures are logged by ``_send_reply``) when
        the reply was delivered or given up on.
        """
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[None] = loop.create_future()

        def attempt(number: int) -> None:
            self._send_reply(reply).add_done_callback(lambda d: sent(d, number))

        def sent(delivery: asyncio.Future[Any], number: int) -> None:
            error = None if delivery.cancelled() else delivery.exception()
            if (
                isinstance(error, KafkaTransportError)
                and error.retriable
                and number < _REPLY_ATTEMPTS
                and self._state == "running"
            ):
                loop.call_later(0.1 * number, attempt, number + 1)
            else:
                _set_none(finished)

        attempt(1)
        return finished

    def _journal_for(self, agent_type: str) -> Journal:
        journal = self._journals.get(agent_type)
        if journal is None:
            producer = self._producer
            assert producer is not None
            journal = Journal(producer, self._layout.requests(agent_type))
            self._journals[agent_type] = journal
        return journal

    async def _forget_agents(self, topic: str, partitions: list[int]) -> None:
        """Drop agents whose partition moved on: their state now lives elsewhere."""
        if not self._config.checkpoint_state:
            return
        lost = set(partitions)
        for agent_id, partition in list(self._agent_partitions.items()):
            if partition in lost and self._layout.requests(agent_id.type) == topic:
                del self._agent_partitions[agent_id]
                await self._host.evict(agent_id)

    def _response(
        self, event: RequestEvent, recipient: AgentId, result: Any, error: BaseException | None
    ) -> ResponseEvent:
        sender_ref = AgentRef(type=recipient.type, key=recipient.key)
        if error is None:
            try:
                payload = self._payloads.encode(result)
            except Exception as exc:
                error = exc
            else:
                return ResponseEvent(
                    message_id=event.message_id,
                    sender=sender_ref,
                    recipient=event.sender,
                    payload=payload.data,
                    type_name=payload.type_name,
                    data_content_type=payload.data_content_type,
                    metadata={_PYTHON_TYPE: payload.python_type},
                )
        return ResponseEvent(
            message_id=event.message_id,
            sender=sender_ref,
            recipient=event.sender,
            error=describe(error),
        )

    # ------------------------------------------------------------ agents and state

    async def get(
        self, id_or_type: AgentId | AgentType | str, /, key: str = "default", *, lazy: bool = True
    ) -> AgentId:
        """The id of an agent; with ``lazy=False`` it is created here if hosted here."""
        return await get_impl(
            id_or_type=id_or_type, key=key, lazy=lazy, instance_getter=self._host.get
        )

    async def try_get_underlying_agent_instance(self, id: AgentId, type: type[T] = Agent) -> T:  # type: ignore[assignment]
        """The local instance of ``id``; LookupError if its type is not hosted here."""
        if not self._host.hosts(id.type):
            raise LookupError(f"Agent with name {id.type} not found.")
        agent = await self._host.get(id)
        if not isinstance(agent, type):
            raise TypeError(
                f"Agent with name {id.type} is not of type {type.__name__}. "
                f"It is of type {agent.__class__.__name__}"
            )
        return agent

    async def agent_metadata(self, agent: AgentId) -> AgentMetadata:
        """Metadata of a local agent."""
        return (await self._host.get(agent)).metadata

    async def agent_save_state(self, agent: AgentId) -> Mapping[str, Any]:
        """State of a local agent."""
        return await (await self._host.get(agent)).save_state()

    async def agent_load_state(self, agent: AgentId, state: Mapping[str, Any]) -> None:
        """Load the state of a local agent."""
        await (await self._host.get(agent)).load_state(state)

    async def save_state(self) -> Mapping[str, Any]:
        """State of every agent instantiated on this worker, keyed by agent id."""
        return {
            str(agent_id): dict(await agent.save_state())
            for agent_id, agent in list(self._host.instances.items())
        }

    async def load_state(self, state: Mapping[str, Any]) -> None:
        """Load states saved by :meth:`save_state` into agents hosted here."""
        for agent_id_str, agent_state in state.items():
            agent_id = AgentId.from_str(agent_id_str)
            if self._host.hosts(agent_id.type):
                await (await self._host.get(agent_id)).load_state(agent_state)


class _ReplyExpired(Exception):
    """Set on a call's future when its request timeout passes."""


def _forget_late(acks: list[asyncio.Future[Any]], timeout: float) -> asyncio.TimerHandle:
    """Forget the acknowledgements of one publication that do not come within ``timeout``.

    One timer per publication, not per recipient, and no task. Nobody awaits these
    futures: an error set on them when the runtime stops is read here.
    """
    timer = asyncio.get_running_loop().call_later(timeout, lambda: [ack.cancel() for ack in acks])
    open_acks = [len(acks)]

    def done(ack: asyncio.Future[Any]) -> None:
        if not ack.cancelled():
            ack.exception()
        open_acks[0] -= 1
        if open_acks[0] == 0:
            timer.cancel()

    for ack in acks:
        ack.add_done_callback(done)
    return timer


def _expire_reply(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(_ReplyExpired())


def _all_of(futures: list[asyncio.Future[Any]]) -> asyncio.Future[Any] | None:
    """One future for several deliveries (None when there are none)."""
    if not futures:
        return None
    if len(futures) == 1:
        return futures[0]
    return asyncio.gather(*futures, return_exceptions=True)


def _both(first: asyncio.Future[None], second: asyncio.Future[None]) -> asyncio.Future[None]:
    """A future done when both are (neither fails: both complete with None).

    Cheaper than ``gather`` on the per-request path: two callbacks, no wrapper task.
    """
    both: asyncio.Future[None] = first.get_loop().create_future()

    def one_done(_: asyncio.Future[None]) -> None:
        if first.done() and second.done() and not both.done():
            both.set_result(None)

    first.add_done_callback(one_done)
    second.add_done_callback(one_done)
    return both


def _log_failed_reply(delivery: asyncio.Future[Message]) -> None:
    if not delivery.cancelled() and delivery.exception() is not None:
        logger.error("a reply was not delivered: %s", delivery.exception())


def _position(delivery: asyncio.Future[Message]) -> str | None:
    """``topic[partition]@offset`` of an acknowledged record, else None."""
    if not delivery.done() or delivery.cancelled() or delivery.exception() is not None:
        return None
    record = delivery.result()
    return f"{record.topic()}[{record.partition()}]@{record.offset()}"


def _set_none(future: asyncio.Future[Any], retrieved: asyncio.Future[Any] | None = None) -> None:
    """Complete ``future``; ``retrieved`` is a finished future whose error was logged already."""
    if retrieved is not None and not retrieved.cancelled():
        retrieved.exception()
    if not future.done():
        future.set_result(None)


def _ack_id(message_id: str, agent_type: str, key: str) -> str:
    """The inbox key of the acknowledgement of ``message_id`` by agent ``agent_type/key``."""
    return f"{message_id}/{agent_type}/{key}"


def _task_cancelling() -> bool:
    """Whether the current task itself is being cancelled (unknowable before 3.11)."""
    task = asyncio.current_task()
    if sys.version_info >= (3, 11) and task is not None:
        return task.cancelling() > 0
    return False


def _envelope_trace_metadata() -> dict[str, str]:
    envelope = get_telemetry_envelope_metadata()
    found = {"traceparent": envelope.traceparent, "tracestate": envelope.tracestate}
    return {k: v for k, v in found.items() if v}


def _fail_on_delivery_error(delivery: asyncio.Future[Message], reply: asyncio.Future[Any]) -> None:
    if delivery.cancelled() or reply.done():
        return
    exc = delivery.exception()
    if exc is not None:
        reply.set_exception(exc)
