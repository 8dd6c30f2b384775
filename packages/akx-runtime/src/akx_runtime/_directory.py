"""What every worker knows about the others: registered agent types and subscriptions.

Both views are rebuilt from compacted topics read from the beginning at start, then
followed, so a worker that joins late knows everything registered before it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from autogen_core import AgentId, Subscription, TopicId, TypePrefixSubscription, TypeSubscription

from akx_events import RegistrationEvent, SubscriptionEvent

__all__ = ["AgentDirectory", "SubscriptionTable", "subscription_event_fields"]


class AgentDirectory:
    """Which workers host which agent types, from the registry topic."""

    def __init__(self) -> None:
        self._hosts: defaultdict[str, set[str]] = defaultdict(set)

    def apply(self, event: RegistrationEvent) -> None:
        """Fold one registration record into the view."""
        if event.action == "register":
            self._hosts[event.agent_type].add(event.worker_id)
        else:
            self._hosts[event.agent_type].discard(event.worker_id)
            if not self._hosts[event.agent_type]:
                del self._hosts[event.agent_type]

    def hosts(self, agent_type: str) -> frozenset[str]:
        """Workers currently hosting ``agent_type``."""
        return frozenset(self._hosts.get(agent_type, ()))

    def is_hosted(self, agent_type: str) -> bool:
        """Whether any worker hosts ``agent_type``."""
        return bool(self._hosts.get(agent_type))

    def agent_types(self) -> dict[str, frozenset[str]]:
        """Every hosted agent type with its workers."""
        return {t: frozenset(w) for t, w in self._hosts.items() if w}


def subscription_event_fields(subscription: Subscription) -> tuple[str, str] | None:
    """``(kind, topic_type)`` of a subscription that can cross processes, else None."""
    if isinstance(subscription, TypeSubscription):
        return "type", subscription.topic_type
    if isinstance(subscription, TypePrefixSubscription):
        return "type_prefix", subscription.topic_type_prefix
    return None


def _rebuild(event: SubscriptionEvent) -> Subscription | None:
    if event.kind == "type":
        return TypeSubscription(event.topic_type, event.agent_type, id=event.subscription_id)
    if event.kind == "type_prefix":
        return TypePrefixSubscription(event.topic_type, event.agent_type, id=event.subscription_id)
    return None


class SubscriptionTable:
    """All subscriptions of the system: remote ones from the topic, plus local custom ones.

    Type and type-prefix subscriptions travel through the subscription topic and are
    evaluated by the publisher. A custom ``Subscription`` is code that cannot travel:
    it is evaluated by a worker that holds it (its owner), which the publisher asks
    to route the message.
    """

    def __init__(self) -> None:
        # Keyed by (subscription id, worker id): workers running the same code add
        # subscriptions under the same explicit id, and one leaving removes only its own.
        self._shared: dict[tuple[str, str], Subscription] = {}
        self._custom_owners: defaultdict[str, set[str]] = defaultdict(set)
        self._local_custom: dict[str, Subscription] = {}

    def apply(self, event: SubscriptionEvent) -> None:
        """Fold one subscription record into the table."""
        if event.kind == "custom":
            owners = self._custom_owners[event.subscription_id]
            if event.action == "add":
                owners.add(event.worker_id)
            else:
                owners.discard(event.worker_id)
                if not owners:
                    del self._custom_owners[event.subscription_id]
            return
        key = (event.subscription_id, event.worker_id)
        if event.action == "add":
            rebuilt = _rebuild(event)
            if rebuilt is not None:
                self._shared[key] = rebuilt
        else:
            self._shared.pop(key, None)

    def add_local_custom(self, subscription: Subscription) -> None:
        """Hold a custom subscription that this worker evaluates."""
        self._local_custom[subscription.id] = subscription

    def has_local_custom(self) -> bool:
        """Whether this worker holds custom subscriptions (others route messages to it)."""
        return bool(self._local_custom)

    def remove_local_custom(self, subscription_id: str) -> Subscription | None:
        """Stop holding a custom subscription."""
        return self._local_custom.pop(subscription_id, None)

    def shared(self) -> list[Subscription]:
        """Subscriptions every worker can evaluate."""
        return list(self._shared.values())

    def recipients(self, topic: TopicId) -> list[AgentId]:
        """Agents that type and type-prefix subscriptions route ``topic`` to, once each."""
        return _unique(s.map_to_agent(topic) for s in self._shared.values() if s.is_match(topic))

    def custom_routes(self, topic: TopicId) -> dict[str, str]:
        """Custom subscription id -> the worker that should evaluate it.

        Several workers may hold the same custom subscription (the same code runs in
        each); the smallest worker id evaluates it, so each recipient gets one copy.
        """
        return {sid: min(owners) for sid, owners in self._custom_owners.items() if owners}

    def local_custom_recipients(self, subscription_id: str, topic: TopicId) -> list[AgentId]:
        """Agents a custom subscription held here routes ``topic`` to."""
        subscription = self._local_custom.get(subscription_id)
        if subscription is None or not subscription.is_match(topic):
            return []
        return [subscription.map_to_agent(topic)]


def _unique(ids: Iterable[AgentId]) -> list[AgentId]:
    seen: dict[AgentId, None] = {}
    for agent_id in ids:
        seen.setdefault(agent_id, None)
    return list(seen)
