"""Behaviour only KafkaAgentRuntime has: timeouts, remote errors, lifecycle, many workers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from autogen_core import (
    AgentId,
    BaseAgent,
    MessageContext,
    TopicId,
    TypeSubscription,
)
from autogen_core.exceptions import UndeliverableException
from confluent_kafka.admin import AdminClient

from akx_dev import KafkaStack, read_records
from akx_events import BrokerUnavailableError, KafkaConfig, SchemaRegistryConfig
from akx_runtime import (
    KafkaAgentRuntime,
    KafkaAgentRuntimeConfig,
    RecipientNotFoundError,
    RemoteHandlerError,
    RequestTimeoutError,
    RuntimeStateError,
    UnserializableMessageError,
)

ConfigFactory = Callable[..., KafkaAgentRuntimeConfig]
RuntimeFactory = Callable[..., KafkaAgentRuntime]


@pytest.fixture
async def runtimes(runtime_config: ConfigFactory) -> AsyncIterator[RuntimeFactory]:
    """Return a factory of runtimes on this test's topics; all are closed at the end."""
    made: list[KafkaAgentRuntime] = []

    def make(**config: Any) -> KafkaAgentRuntime:
        runtime = KafkaAgentRuntime(runtime_config(**config))
        made.append(runtime)
        return runtime

    try:
        yield make
    finally:
        for runtime in made:
            await runtime.close()


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@dataclass
class Point:
    x: int
    y: int


class Opaque:
    """A plain class: no serializer knows it."""


#: An exception class whose module the caller has never imported.
ForeignError: type[Exception] = type(
    "ForeignError", (Exception,), {"__module__": "akx_module_nobody_imported"}
)


class TwoArgumentError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code}: {reason}")


class Worker(BaseAgent):
    """Echoes, fails on demand, or waits until released."""

    def __init__(self, log: list[tuple[str, Any]] | None = None, name: str = "") -> None:
        super().__init__("kafka test worker")
        self.release = asyncio.Event()
        self._log = log if log is not None else []
        self._name = name

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> Any:
        self._log.append((self._name, message))
        if message == "slow":
            await self.release.wait()
        elif message == "foreign":
            raise ForeignError("from far away")
        elif message == "two-arguments":
            raise TwoArgumentError(7, "odd")
        elif message == "unserializable reply":
            return Opaque()
        return message


async def warm_up(runtime: KafkaAgentRuntime, agent_id: AgentId) -> None:
    """Call until the type's consumer group has joined (it may outlast a short timeout)."""
    for _ in range(10):
        try:
            await runtime.send_message("warm", agent_id)
            return
        except RequestTimeoutError:
            continue
    pytest.fail("the agent never answered")


async def until_both_answer(
    caller: KafkaAgentRuntime, agent_type: str, log: list[tuple[str, Any]]
) -> int:
    """Send numbered requests until workers "first" and "second" both handled some.

    Returns how many were sent (numbers 0 to n - 1, keys spread over the partitions).
    Two workers hosting a type split its partitions only once the group rebalanced.
    Waiting for that also matters on the embedded broker: a member leaving *during* a
    rebalance leaves the others unassigned (seen with Tansu 0.6.0; not Kafka behaviour).
    """
    sent, deadline = 0, time.monotonic() + 15
    while {name for name, _ in log} != {"first", "second"}:
        assert time.monotonic() < deadline, f"only { ({n for n, _ in log}) } answered"
        batch = range(sent, sent + 20)
        await asyncio.gather(
            *(caller.send_message(n, AgentId(agent_type, f"key-{n}")) for n in batch)
        )
        sent += 20
    return sent


# ----------------------------------------------------------------------------- errors


async def test_unknown_recipient_raises_recipient_not_found_at_once(
    runtimes: RuntimeFactory,
) -> None:
    runtime = runtimes()
    await runtime.start()

    started = time.monotonic()
    with pytest.raises(RecipientNotFoundError, match="nobody") as caught:
        await runtime.send_message("x", AgentId("nobody", "k"))
    assert time.monotonic() - started < 5.0  # at once, not after the 10 s request timeout
    assert isinstance(caught.value, LookupError)
    assert isinstance(caught.value, UndeliverableException)


async def test_slow_handler_times_out_and_its_late_reply_is_counted(
    runtimes: RuntimeFactory,
) -> None:
    runtime = runtimes(request_timeout=1.0)
    await Worker.register(runtime, "worker", lambda: Worker())
    await runtime.start()
    target = AgentId("worker", "k")
    await warm_up(runtime, target)
    inbox = runtime._inbox  # pyright: ignore[reportPrivateUsage]
    assert inbox is not None
    late_before = inbox.late_replies

    started = time.monotonic()
    with pytest.raises(RequestTimeoutError) as caught:
        await runtime.send_message("slow", target, message_id="slow-1")
    assert 0.9 < time.monotonic() - started < 5.0
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.message_id == "slow-1"
    assert caught.value.timeout == 1.0
    # Where the request waits, to look for the consumer group that did not answer.
    position = caught.value.request_position
    topic = runtime._layout.requests("worker")  # pyright: ignore[reportPrivateUsage]
    assert position is not None and position.startswith(f"{topic}[")
    assert position in str(caught.value)

    agent = await runtime.try_get_underlying_agent_instance(target, Worker)
    agent.release.set()
    await eventually(lambda: inbox.late_replies == late_before + 1)
    # The late reply did no harm: the next call is answered.
    assert await runtime.send_message("after", target) == "after"


async def test_remote_exception_of_unknown_type_becomes_remote_handler_error(
    runtimes: RuntimeFactory,
) -> None:
    runtime = runtimes()
    await Worker.register(runtime, "worker", lambda: Worker())
    await runtime.start()
    target = AgentId("worker", "k")

    with pytest.raises(RemoteHandlerError) as caught:
        await runtime.send_message("foreign", target)
    error = caught.value
    assert error.exception_type == "akx_module_nobody_imported.ForeignError"
    assert "from far away" in str(error)
    assert error.remote_traceback is not None
    assert "on_message_impl" in error.remote_traceback
    assert 'raise ForeignError("from far away")' in error.remote_traceback
    assert any("Remote traceback" in note for note in getattr(error, "__notes__", []))

    # Importable, but not constructible from a message: still a RemoteHandlerError.
    with pytest.raises(RemoteHandlerError, match="TwoArgumentError: 7: odd"):
        await runtime.send_message("two-arguments", target)


async def test_unserializable_messages_fail_at_the_sender(runtimes: RuntimeFactory) -> None:
    runtime = runtimes()
    log: list[tuple[str, Any]] = []
    await Worker.register(runtime, "worker", lambda: Worker(log))
    await runtime.add_subscription(TypeSubscription("topic", "worker"))
    await runtime.start()
    target = AgentId("worker", "k")

    with pytest.raises(UnserializableMessageError, match="Opaque"):
        await runtime.send_message(Opaque(), target)
    with pytest.raises(UnserializableMessageError, match="Opaque"):
        await runtime.publish_message(Opaque(), TopicId("topic", "k"))
    with pytest.raises(UnserializableMessageError, match="builtins:dict"):
        await runtime.send_message({"a": {1, 2}}, target)
    # A reply nobody can serialize fails the call with the same error.
    with pytest.raises(UnserializableMessageError, match="Opaque"):
        await runtime.send_message("unserializable reply", target)
    await runtime.stop_when_idle()
    assert log == [("", "unserializable reply")]


# ----------------------------------------------------------------------------- lifecycle


async def test_runtime_must_be_started_and_cannot_restart(runtimes: RuntimeFactory) -> None:
    runtime = runtimes()
    await Worker.register(runtime, "worker", lambda: Worker())
    with pytest.raises(RuntimeStateError):
        await runtime.send_message("x", AgentId("worker", "k"))
    with pytest.raises(RuntimeStateError):
        await runtime.publish_message("x", TopicId("t", "s"))
    with pytest.raises(RuntimeStateError):
        await runtime.stop_when_idle()

    await runtime.start()
    with pytest.raises(RuntimeStateError):
        await runtime.start()
    await runtime.stop()
    with pytest.raises(RuntimeStateError):
        await runtime.start()
    with pytest.raises(RuntimeStateError):
        await runtime.send_message("x", AgentId("worker", "k"))
    await runtime.close()
    with pytest.raises(RuntimeStateError):
        await runtime.start()


async def test_async_with_starts_and_closes(runtimes: RuntimeFactory) -> None:
    runtime = runtimes()
    await Worker.register(runtime, "worker", lambda: Worker())
    async with runtime as running:
        assert running is runtime
        assert await runtime.send_message(Point(1, 2), AgentId("worker", "k")) == Point(1, 2)
    with pytest.raises(RuntimeStateError):
        await runtime.send_message("x", AgentId("worker", "k"))


async def test_stopping_fails_calls_still_waiting(runtimes: RuntimeFactory) -> None:
    host, caller = runtimes(), runtimes()
    await Worker.register(host, "worker", lambda: Worker())
    await host.start()
    await caller.start()
    target = AgentId("worker", "k")

    call = asyncio.create_task(caller.send_message("slow", target))
    agent = await host.try_get_underlying_agent_instance(target, Worker)
    await eventually(lambda: bool(agent._log))  # pyright: ignore[reportPrivateUsage]
    await caller.stop()
    with pytest.raises(RuntimeStateError, match="stopped before the reply"):
        await call
    agent.release.set()


# ----------------------------------------------------------------------------- many workers


async def test_registrations_reach_other_workers_and_leave_with_them(
    runtimes: RuntimeFactory,
) -> None:
    host, caller = runtimes(), runtimes()
    assert host.worker_id != caller.worker_id
    await host.start()
    await caller.start()
    # Registered while both run: the other worker learns it from the registry topic.
    await Worker.register(host, "worker", lambda: Worker())
    await host.add_subscription(TypeSubscription("news", "worker"))
    directory = caller._directory  # pyright: ignore[reportPrivateUsage]
    subscriptions = caller._subscriptions  # pyright: ignore[reportPrivateUsage]
    await eventually(lambda: directory.hosts("worker") == {host.worker_id})
    await eventually(lambda: bool(subscriptions.recipients(TopicId("news", "s"))))

    # A dataclass the host never registered is read back by its qualified name.
    assert await caller.send_message(Point(3, 4), AgentId("worker", "k")) == Point(3, 4)

    await host.stop()
    await eventually(lambda: not directory.is_hosted("worker"))
    await eventually(lambda: not subscriptions.recipients(TopicId("news", "s")))
    with pytest.raises(RecipientNotFoundError):
        await caller.send_message("x", AgentId("worker", "k"))


async def test_without_a_publish_topic_publications_are_delivered_and_not_copied(
    runtimes: RuntimeFactory, kafka_stack: KafkaStack, topic_name: Callable[[str], str]
) -> None:
    log: list[tuple[str, Any]] = []
    runtime = runtimes(publish_topic=None)
    await Worker.register(runtime, "worker", lambda: Worker(log))
    await runtime.add_subscription(TypeSubscription("news", "worker"))
    await runtime.start()
    await runtime.publish_message("delivered", TopicId("news", "s"))
    await eventually(lambda: ("", "delivered") in log)
    # The topic a copy would have gone to (this test's name for it) was never created.
    admin = AdminClient({"bootstrap.servers": kafka_stack.bootstrap_servers})
    topics = (await asyncio.to_thread(admin.list_topics, timeout=10)).topics
    assert topic_name("pub") not in topics
    assert topic_name("reg") in topics


async def test_late_joiner_knows_existing_registrations_and_subscriptions(
    runtimes: RuntimeFactory,
) -> None:
    host = runtimes()
    log: list[tuple[str, Any]] = []
    await Worker.register(host, "worker", lambda: Worker(log))
    await host.add_subscription(TypeSubscription("news", "worker"))
    await host.start()

    late = runtimes()
    await late.start()
    # No waiting: start() returned only after reading the registry and subscriptions.
    await late.publish_message("extra", TopicId("news", "paper"))
    assert await late.send_message("hello", AgentId("worker", "k")) == "hello"
    await eventually(lambda: ("", "extra") in log)
    assert sorted(message for _, message in log) == ["extra", "hello"]


async def test_workers_hosting_one_type_split_its_requests(runtimes: RuntimeFactory) -> None:
    log: list[tuple[str, Any]] = []
    # A call caught in the group's rebalances waits them out (longer than 10 s when the
    # machine is busy) instead of failing the test.
    first, second, caller = runtimes(), runtimes(), runtimes(request_timeout=30.0)
    await Worker.register(first, "tally", lambda: Worker(log, "first"))
    await Worker.register(second, "tally", lambda: Worker(log, "second"))
    for runtime in (first, second, caller):
        await runtime.start()

    async def call(number: int) -> None:
        assert await caller.send_message(number, AgentId("tally", f"key-{number}")) == number

    # Until both workers are in the group, one of them may get every request.
    sent = await until_both_answer(caller, "tally", log)
    await asyncio.gather(*(call(n) for n in range(sent, sent + 200)))
    sent += 200

    handled = [message for _, message in log]
    assert sorted(handled) == list(range(sent))  # each request handled exactly once
    by_worker = {name: {m for n, m in log if n == name} for name in ("first", "second")}
    assert by_worker["first"].isdisjoint(by_worker["second"])
    assert all(by_worker.values())

    # A type stays registered while another worker still hosts it.
    await first.stop()
    directory = caller._directory  # pyright: ignore[reportPrivateUsage]
    await eventually(lambda: directory.hosts("tally") == {second.worker_id})
    assert await caller.send_message(-1, AgentId("tally", "after")) == -1
    assert log[-1] == ("second", -1)


class Gated(BaseAgent):
    """Counts how many of its kind run at once; each waits for the shared gate."""

    def __init__(self, gate: asyncio.Event, running: list[int]) -> None:
        super().__init__("gated")
        self._gate, self._running = gate, running  # [now, most]

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> Any:
        self._running[0] += 1
        self._running[1] = max(self._running[1], self._running[0])
        try:
            await self._gate.wait()
        finally:
            self._running[0] -= 1
        return message


async def test_a_worker_runs_at_most_max_in_flight_handlers_and_stops_fetching(
    runtimes: RuntimeFactory,
) -> None:
    gate, running = asyncio.Event(), [0, 0]
    worker, caller = runtimes(max_in_flight=3), runtimes()
    await Gated.register(worker, "gated", lambda: Gated(gate, running))
    await worker.start()
    await caller.start()
    consumer = worker._request_consumers["gated"]  # pyright: ignore[reportPrivateUsage]

    calls = [
        asyncio.ensure_future(caller.send_message(n, AgentId("gated", f"k{n}"))) for n in range(20)
    ]
    holding = consumer._consumer  # pyright: ignore[reportPrivateUsage]
    # _held: the pause is applied (by the consume thread), not only asked for.
    await eventually(lambda: running[0] == 3 and holding._held, timeout=20)  # pyright: ignore[reportPrivateUsage]
    await asyncio.sleep(0.5)  # records librdkafka had fetched before the pause arrive
    held = consumer.busy
    assert 3 < held <= 20  # three running, the rest waiting in order

    # Held: requests sent now stay in Kafka instead of piling up in the worker.
    calls += [
        asyncio.ensure_future(caller.send_message(n, AgentId("gated", f"k{n}")))
        for n in range(20, 25)
    ]
    topic = worker._layout.requests("gated")  # pyright: ignore[reportPrivateUsage]
    settings = worker.config.kafka_config.consumer_config()
    assert len(await asyncio.to_thread(read_records, settings, topic, 25)) == 25
    await asyncio.sleep(1.0)
    assert consumer.busy == held
    assert running == [3, 3] and consumer.in_flight == 3

    gate.set()
    assert await asyncio.gather(*calls) == list(range(25))
    assert running == [0, 3]  # never more than three at once
    await eventually(lambda: not holding.holding)
    # The last ones finish when the worker has the broker's acknowledgement of their
    # replies, which may come after the caller read them.
    await eventually(lambda: consumer.busy == 0 and consumer.in_flight == 0)


async def test_a_reply_does_not_wait_for_its_journal_entry_but_the_commit_does(
    runtimes: RuntimeFactory,
) -> None:
    worker, caller = runtimes(), runtimes(request_timeout=5.0)
    await Worker.register(worker, "journaled", lambda: Worker())
    await worker.start()
    await caller.start()
    await warm_up(caller, AgentId("journaled", "k"))
    consumer = worker._request_consumers["journaled"]  # pyright: ignore[reportPrivateUsage]
    await eventually(lambda: consumer.in_flight == 0)
    batches = worker._journals["journaled"]._batches  # pyright: ignore[reportPrivateUsage]
    write = batches._write  # pyright: ignore[reportPrivateUsage]
    held: list[tuple[int, list[Any], asyncio.Future[Any]]] = []

    def hold(partition: int, entries: list[Any]) -> asyncio.Future[Any]:
        acknowledged: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        held.append((partition, entries, acknowledged))
        return acknowledged

    batches._write = hold  # pyright: ignore[reportPrivateUsage]
    # The done entry is not acknowledged (not even written): the caller has its answer
    # all the same, and the request stays in flight, below the commit point.
    assert await caller.send_message("answer", AgentId("journaled", "k")) == "answer"
    assert len(held) == 1 and consumer.in_flight == 1
    await asyncio.sleep(0.5)
    assert consumer.in_flight == 1

    batches._write = write  # pyright: ignore[reportPrivateUsage]
    partition, entries, acknowledged = held[0]
    written = write(partition, entries)
    written.add_done_callback(lambda w: acknowledged.set_result(w.result()))
    await eventually(lambda: consumer.in_flight == 0)


class Slow(BaseAgent):
    """Takes 0.1 s per message and logs which worker handled it."""

    def __init__(self, log: list[tuple[str, Any]], name: str) -> None:
        super().__init__("slow")
        self._log, self._name = log, name

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> Any:
        await asyncio.sleep(0.1)
        self._log.append((self._name, message))
        return message


async def test_records_waiting_behind_the_limit_move_with_their_partitions(
    runtimes: RuntimeFactory,
) -> None:
    log: list[tuple[str, Any]] = []
    # 60 calls at two at a time, 0.1 s each, across a group join and a rebalance: the
    # last ones wait several seconds, more on a busy machine.
    first, second = runtimes(max_in_flight=2), runtimes(max_in_flight=2)
    caller = runtimes(request_timeout=30.0)
    await Slow.register(first, "slow", lambda: Slow(log, "first"))
    await Slow.register(second, "slow", lambda: Slow(log, "second"))
    await first.start()
    await caller.start()
    consumer = first._request_consumers["slow"]  # pyright: ignore[reportPrivateUsage]
    calls = [
        asyncio.ensure_future(caller.send_message(n, AgentId("slow", f"k{n}"))) for n in range(60)
    ]
    # The first worker alone: two at a time, the rest waiting (and fetching held).
    await eventually(lambda: consumer._consumer.holding, timeout=20)  # pyright: ignore[reportPrivateUsage]
    # A second worker joins: the group moves a partition, and the records of it that were
    # waiting in the first worker are read again by the second, not run twice.
    await second.start()
    assert await asyncio.gather(*calls) == list(range(60))
    assert sorted(m for _, m in log) == list(range(60))  # each handled exactly once
    assert {name for name, _ in log} == {"first", "second"}


async def test_workers_may_add_the_same_subscription_id(runtimes: RuntimeFactory) -> None:
    # The same program on two workers adds its subscriptions under the same explicit
    # ids; one worker leaving must not take the other's subscription with it.
    log: list[tuple[str, Any]] = []
    first, second, publisher = runtimes(), runtimes(), runtimes(request_timeout=30.0)
    await Worker.register(first, "reader", lambda: Worker(log, "first"))
    await Worker.register(second, "reader", lambda: Worker(log, "second"))
    await first.add_subscription(TypeSubscription("news", "reader", id="news-reader"))
    for runtime in (first, second, publisher):
        await runtime.start()
    # Added after start, while the first worker's subscription is known here.
    await second.add_subscription(TypeSubscription("news", "reader", id="news-reader"))
    await until_both_answer(publisher, "reader", log)
    log.clear()

    await first.stop()
    table = publisher._subscriptions  # pyright: ignore[reportPrivateUsage]
    directory = publisher._directory  # pyright: ignore[reportPrivateUsage]
    await eventually(lambda: directory.hosts("reader") == {second.worker_id})
    assert table.recipients(TopicId("news", "s")) == [AgentId("reader", "s")]
    await publisher.publish_message("still here", TopicId("news", "s"))
    await publisher.stop_when_idle()
    assert log == [("second", "still here")]


@dataclass
class EvenSources:
    """A custom subscription: code that cannot travel, so its owner evaluates it."""

    agent_type: str
    id: str = "even-sources"

    def is_match(self, topic_id: TopicId) -> bool:
        return topic_id.type == "numbers" and int(topic_id.source) % 2 == 0

    def map_to_agent(self, topic_id: TopicId) -> AgentId:
        return AgentId(self.agent_type, topic_id.source)


async def test_custom_subscriptions_are_evaluated_by_their_owner(
    runtimes: RuntimeFactory,
) -> None:
    log: list[tuple[str, Any]] = []
    owner, publisher = runtimes(), runtimes()
    await Worker.register(owner, "evens", lambda: Worker(log, "owner"))
    await owner.add_subscription(EvenSources("evens"))  # type: ignore[arg-type]
    await owner.start()
    await publisher.start()

    for number in range(4):
        await publisher.publish_message(number, TopicId("numbers", str(number)))
    # The sender is excluded by the owner too.
    await publisher.publish_message(6, TopicId("numbers", "6"), sender=AgentId("evens", "6"))
    await eventually(lambda: len(log) >= 2)
    await owner.stop_when_idle()
    assert sorted(message for _, message in log) == [0, 2]


async def test_start_fails_fast_without_a_broker() -> None:
    kafka = KafkaConfig(
        name="nobody",
        group_id="nobody",
        client_id="nobody",
        bootstrap_servers="127.0.0.1:1",
        schema_registry_config=SchemaRegistryConfig(url="http://127.0.0.1:2"),
    )
    runtime = KafkaAgentRuntime(KafkaAgentRuntimeConfig(kafka_config=kafka, start_timeout=1.0))
    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError):
        await runtime.start()
    assert time.monotonic() - started < 5
    with pytest.raises(RuntimeStateError):
        await runtime.start()
    await runtime.close()


# ------------------------------------------------------------------------ reply topic


async def test_a_serving_worker_reads_its_reply_topic_only_from_its_first_call(
    runtimes: RuntimeFactory,
) -> None:
    server = runtimes()
    await Worker.register(server, "worker", lambda: Worker())
    await server.add_subscription(TypeSubscription("topic", "worker"))
    await server.start()
    caller = runtimes()
    await caller.start()
    # A runtime that hosts nothing is there to call: it reads replies from the start.
    assert caller._reply_consumer is not None  # pyright: ignore[reportPrivateUsage]
    await warm_up(caller, AgentId("worker", "k"))
    # Serving needs no reply topic: no consumer polls it.
    assert server._reply_consumer is None  # pyright: ignore[reportPrivateUsage]

    # Its first calls (ten at once) start one reader, and every reply arrives.
    replies = await asyncio.gather(
        *(server.send_message(f"m{n}", AgentId("worker", f"k{n}")) for n in range(10))
    )
    assert replies == [f"m{n}" for n in range(10)]
    reader = server._reply_consumer  # pyright: ignore[reportPrivateUsage]
    assert reader is not None
    await server.publish_message("published", TopicId("topic", "k"))
    assert server._reply_consumer is reader  # pyright: ignore[reportPrivateUsage]
    await server.stop_when_idle()  # the publication's acknowledgement came back
