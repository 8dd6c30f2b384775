"""Replication lag: how long remote writes took to become visible here."""

from __future__ import annotations

import collections
import math
from collections.abc import Callable

__all__ = ["ReplicationLag"]


class ReplicationLag:
    """Lag samples of the remote records this instance applied while following the topic.

    A sample is the time between a record's ``time`` (set by the writer just before
    producing) and the moment this instance applied it, in seconds. Records read
    during the start-up replay are not samples: their age is not a lag. Writers on
    other machines add their clock offset to the samples.

    Args:
        window: how many recent samples the percentiles are computed over.
        on_sample: also called with each sample (e.g. to record it as a metric).
    """

    def __init__(
        self, window: int = 10_000, on_sample: Callable[[float], None] | None = None
    ) -> None:
        self._samples: collections.deque[float] = collections.deque(maxlen=window)
        self._count = 0
        self.on_sample = on_sample

    def record(self, seconds: float) -> None:
        """Add a sample."""
        self._samples.append(seconds)
        self._count += 1
        if self.on_sample is not None:
            self.on_sample(seconds)

    @property
    def last(self) -> float | None:
        """The most recent sample in seconds, ``None`` before any remote record arrived."""
        return self._samples[-1] if self._samples else None

    @property
    def count(self) -> int:
        """How many samples were recorded in total."""
        return self._count

    def percentile(self, q: float) -> float | None:
        """The ``q``-th percentile (0-100, nearest rank) of the recent samples, in seconds."""
        if not 0 <= q <= 100:
            raise ValueError(f"percentile {q!r} is not within 0-100")
        if not self._samples:
            return None
        ordered = sorted(self._samples)
        rank = max(1, math.ceil(q / 100 * len(ordered)))
        return ordered[rank - 1]

    def reset(self) -> None:
        """Forget every sample."""
        self._samples.clear()
        self._count = 0
