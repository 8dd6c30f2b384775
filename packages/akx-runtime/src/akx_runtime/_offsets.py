"""Which offsets are safe to commit when records finish out of order.

Records of one partition may be handled concurrently (different agent keys share a
partition). An offset may be committed only when every record before it has been
handled, so the commit point is the lowest offset still in flight.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from confluent_kafka import TopicPartition

__all__ = ["OffsetTracker"]


@dataclass
class _Partition:
    in_flight: list[int] = field(default_factory=list[int])  # min-heap
    done: set[int] = field(default_factory=set[int])
    next_offset: int = -1  # one past the highest offset seen
    committed: int = -1


class OffsetTracker:
    """Track in-flight records per partition and compute commit points."""

    def __init__(self) -> None:
        self._partitions: dict[tuple[str, int], _Partition] = {}

    def started(self, topic: str, partition: int, offset: int) -> None:
        """A record was received and is being handled."""
        state = self._partitions.setdefault((topic, partition), _Partition())
        heapq.heappush(state.in_flight, offset)
        state.next_offset = max(state.next_offset, offset + 1)

    def finished(self, topic: str, partition: int, offset: int) -> None:
        """A record was handled (and its reply, if any, acknowledged)."""
        state = self._partitions.get((topic, partition))
        if state is None:
            return
        state.done.add(offset)
        while state.in_flight and state.in_flight[0] in state.done:
            state.done.discard(heapq.heappop(state.in_flight))

    def in_flight(self, topic: str, partition: int) -> int:
        """How many records of a partition are still being handled."""
        state = self._partitions.get((topic, partition))
        return len(state.in_flight) if state is not None else 0

    def handled_above(self, topic: str, partition: int) -> list[int]:
        """Handled offsets above the lowest one still in flight."""
        state = self._partitions.get((topic, partition))
        return sorted(state.done) if state is not None else []

    def commit_points(self, *, only_new: bool = True) -> list[TopicPartition]:
        """Offsets to commit (the next offset to read) for each partition."""
        points: list[TopicPartition] = []
        for (topic, partition), state in self._partitions.items():
            point = state.in_flight[0] if state.in_flight else state.next_offset
            if point < 0 or (only_new and point <= state.committed):
                continue
            state.committed = point
            points.append(TopicPartition(topic, partition, point))
        return points

    def forget(self, topic: str, partition: int) -> None:
        """Drop a partition that was revoked."""
        self._partitions.pop((topic, partition), None)
