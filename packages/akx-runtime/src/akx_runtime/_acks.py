"""Acknowledgements of handled publications, sent in batches per publisher.

A publisher learns that each subscriber handled its message (``stop_when_idle`` waits
for that, and an unhandled exception travels back with it). One record per delivery
doubled the records of a fan-out; here the acknowledgements made in one loop
iteration for one publisher share a record: a ``ResponseEvent`` whose metadata lists
them. A failed handler's acknowledgement carries its error and still goes alone.

In the journal an acknowledgement is kept as a :class:`StoredReply` without a value
(see :func:`ack_reply`); sending it again after a failover puts it in a batch too.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any, cast

from confluent_kafka import Message

from akx_events import AgentRef, ResponseEvent

from ._batches import LoopBatches
from ._journal import StoredReply

__all__ = ["ACK", "ACKS", "PublishAcks", "ack_reply", "acked"]

logger = logging.getLogger("autogen_kafka_extension.runtimes.kafka_agent_runtime")

#: Metadata key marking a response as a publish acknowledgement.
ACK = "akx.ack"
#: Metadata key of a batch: a JSON list of ``[message_id, agent type, agent key]``.
ACKS = "akx.acks"
#: Header of a journaled acknowledgement: the acknowledging agent, ``type`` 0x1f ``key``.
ACK_SENDER_HEADER = "akx-ack-sender"
_SEPARATOR = "\x1f"
#: Most acknowledgements in one record (keeps it far below any size limit).
_MOST_PER_RECORD = 500

#: Produces a response event to a topic (keyed by message id); returns its delivery.
EventSender = Callable[[str, ResponseEvent, str], "asyncio.Future[Message]"]


def ack_reply(reply_to: str, message_id: str, sender: AgentRef) -> StoredReply:
    """The journal form of a successful acknowledgement: who acknowledges what, no value."""
    return StoredReply(
        topic=reply_to,
        key=message_id.encode(),
        value=None,
        headers=[(ACK_SENDER_HEADER, f"{sender.type}{_SEPARATOR}{sender.key}".encode())],
    )


def _parse_ack(reply: StoredReply) -> tuple[str, AgentRef] | None:
    """Message id and acknowledging agent of a reply made by :func:`ack_reply`."""
    if reply.value is not None or reply.key is None:
        return None
    for name, value in reply.headers:
        if name == ACK_SENDER_HEADER and value is not None:
            agent_type, _, key = value.decode("utf-8", "replace").partition(_SEPARATOR)
            return reply.key.decode("utf-8", "replace"), AgentRef(type=agent_type, key=key)
    return None


def acked(metadata: dict[str, str]) -> Iterator[tuple[str, str, str]]:
    """The ``(message id, agent type, agent key)`` entries of a batch acknowledgement.

    Raises:
        ValueError: the batch is not a JSON list of three-string entries.
    """
    entries: object = json.loads(metadata[ACKS])
    if not isinstance(entries, list):
        raise ValueError(f"{ACKS} is not a list")
    for entry in cast("list[object]", entries):
        parts = cast("list[object]", entry) if isinstance(entry, list) else []
        if len(parts) != 3 or not all(isinstance(part, str) for part in parts):
            raise ValueError(f"{ACKS} entry {entry!r} is not [message id, type, key]")
        message_id, agent_type, key = cast("list[str]", parts)
        yield message_id, agent_type, key


class PublishAcks:
    """Collects acknowledgements during a loop iteration and sends one record per publisher."""

    def __init__(self, send: EventSender) -> None:
        self._send = send
        self._batches: LoopBatches[str, tuple[str, AgentRef]] = LoopBatches(
            self._send_batch,
            split=lambda acks: (
                acks[i : i + _MOST_PER_RECORD] for i in range(0, len(acks), _MOST_PER_RECORD)
            ),
        )

    def send(self, reply: StoredReply) -> asyncio.Future[Any] | None:
        """Queue ``reply`` if it is an acknowledgement made by :func:`ack_reply`.

        Returns a future that completes when the broker acknowledged the batch record,
        or None when ``reply`` is not such an acknowledgement.
        """
        parsed = _parse_ack(reply)
        if parsed is None:
            return None
        return self._batches.add(reply.topic, parsed)

    def _send_batch(self, topic: str, acks: list[tuple[str, AgentRef]]) -> asyncio.Future[Message]:
        first_id, first_sender = acks[0]
        event = ResponseEvent(
            message_id=first_id,
            sender=first_sender,
            metadata={
                ACK: "publish",
                ACKS: json.dumps([[mid, sender.type, sender.key] for mid, sender in acks]),
            },
        )
        try:
            delivery = self._send(topic, event, first_id)
        except Exception:
            logger.error("could not send %d acknowledgements to %s", len(acks), topic)
            raise
        delivery.add_done_callback(_log_failure)
        return delivery


def _log_failure(delivery: asyncio.Future[Message]) -> None:
    if not delivery.cancelled() and (error := delivery.exception()) is not None:
        logger.error("acknowledgements not delivered: %s", error)
