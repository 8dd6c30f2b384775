"""AgentDirectory and SubscriptionTable: the shared view folded from compacted topics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autogen_core import (
    AgentId,
    DefaultSubscription,
    TopicId,
    TypePrefixSubscription,
    TypeSubscription,
)

from akx_events import RegistrationEvent, SubscriptionEvent
from akx_runtime._directory import AgentDirectory, SubscriptionTable, subscription_event_fields


def registration(agent_type: str, worker: str, action: Any = "register") -> RegistrationEvent:
    return RegistrationEvent(agent_type=agent_type, worker_id=worker, action=action)


def subscription(
    sid: str, kind: Any, topic_type: str, agent_type: str, worker: str = "w1", action: Any = "add"
) -> SubscriptionEvent:
    return SubscriptionEvent(
        subscription_id=sid,
        kind=kind,
        topic_type=topic_type,
        agent_type=agent_type,
        worker_id=worker,
        action=action,
    )


@dataclass
class Everything:
    """A custom subscription: every topic, to ``agent_type`` keyed by the source."""

    agent_type: str
    id: str = "everything"

    def is_match(self, topic_id: TopicId) -> bool:
        return True

    def map_to_agent(self, topic_id: TopicId) -> AgentId:
        return AgentId(self.agent_type, topic_id.source)


def test_directory_tracks_workers_per_type() -> None:
    directory = AgentDirectory()
    directory.apply(registration("echo", "w1"))
    directory.apply(registration("echo", "w2"))
    directory.apply(registration("math", "w2"))
    assert directory.hosts("echo") == {"w1", "w2"}
    assert directory.agent_types() == {"echo": {"w1", "w2"}, "math": {"w2"}}

    # One worker leaving keeps the type while another still hosts it.
    directory.apply(registration("echo", "w1", "unregister"))
    assert directory.is_hosted("echo")
    assert directory.hosts("echo") == {"w2"}
    directory.apply(registration("echo", "w2", "unregister"))
    assert not directory.is_hosted("echo")
    assert directory.hosts("echo") == frozenset()
    assert "echo" not in directory.agent_types()


def test_directory_replay_is_idempotent() -> None:
    # Compacted topics may replay a record or deliver an unregister for an unknown worker.
    directory = AgentDirectory()
    directory.apply(registration("echo", "w1", "unregister"))
    for _ in range(2):
        directory.apply(registration("echo", "w1"))
    assert directory.hosts("echo") == {"w1"}
    directory.apply(registration("echo", "w1", "unregister"))
    assert not directory.is_hosted("echo")


def test_event_fields_of_each_subscription_kind() -> None:
    assert subscription_event_fields(TypeSubscription("news", "reader")) == ("type", "news")
    assert subscription_event_fields(DefaultSubscription(agent_type="reader")) == (
        "type",
        "default",
    )
    assert subscription_event_fields(TypePrefixSubscription("sport.", "reader")) == (
        "type_prefix",
        "sport.",
    )
    assert subscription_event_fields(Everything("reader")) is None  # type: ignore[arg-type]


def test_shared_subscriptions_route_each_agent_once() -> None:
    table = SubscriptionTable()
    table.apply(subscription("s1", "type", "news", "reader"))
    table.apply(subscription("s2", "type_prefix", "ne", "reader", worker="w2"))
    table.apply(subscription("s3", "type_prefix", "news", "archive"))
    table.apply(subscription("s4", "type", "weather", "reader"))

    assert table.recipients(TopicId("news", "paper")) == [
        AgentId("reader", "paper"),
        AgentId("archive", "paper"),
    ]
    assert table.recipients(TopicId("newsletter", "x")) == [
        AgentId("reader", "x"),
        AgentId("archive", "x"),
    ]
    assert table.recipients(TopicId("sport", "x")) == []
    rebuilt = {s.id: s for s in table.shared()}
    assert rebuilt["s1"] == TypeSubscription("news", "reader", id="s1")
    assert rebuilt["s2"] == TypePrefixSubscription("ne", "reader", id="s2")

    table.apply(subscription("s2", "type_prefix", "ne", "reader", worker="w2", action="remove"))
    table.apply(subscription("s3", "type_prefix", "news", "archive", action="remove"))
    assert table.recipients(TopicId("newsletter", "x")) == []


def test_custom_subscriptions_are_routed_by_one_owner() -> None:
    table = SubscriptionTable()
    local = Everything("reader")
    table.add_local_custom(local)  # type: ignore[arg-type]
    for worker in ("w3", "w1", "w2"):
        table.apply(subscription(local.id, "custom", "", "", worker=worker))

    # Every worker holding it runs the same code: the smallest id evaluates it.
    assert table.custom_routes(TopicId("any", "s")) == {"everything": "w1"}
    assert table.local_custom_recipients("everything", TopicId("any", "s")) == [
        AgentId("reader", "s")
    ]
    assert table.local_custom_recipients("unknown", TopicId("any", "s")) == []

    table.apply(subscription(local.id, "custom", "", "", worker="w1", action="remove"))
    assert table.custom_routes(TopicId("any", "s")) == {"everything": "w2"}
    for worker in ("w2", "w3"):
        table.apply(subscription(local.id, "custom", "", "", worker=worker, action="remove"))
    assert table.custom_routes(TopicId("any", "s")) == {}
    assert table.remove_local_custom("everything") is local
    assert table.remove_local_custom("everything") is None


def test_the_same_subscription_id_from_two_workers_is_removed_per_worker() -> None:
    table = SubscriptionTable()
    table.apply(subscription("shared-id", "type", "news", "reader", worker="w1"))
    table.apply(subscription("shared-id", "type", "news", "reader", worker="w2"))
    # Both workers route to the same agent: it gets one copy.
    assert table.recipients(TopicId("news", "s")) == [AgentId("reader", "s")]

    table.apply(subscription("shared-id", "type", "news", "reader", worker="w1", action="remove"))
    assert table.recipients(TopicId("news", "s")) == [AgentId("reader", "s")]
    table.apply(subscription("shared-id", "type", "news", "reader", worker="w2", action="remove"))
    assert table.recipients(TopicId("news", "s")) == []
