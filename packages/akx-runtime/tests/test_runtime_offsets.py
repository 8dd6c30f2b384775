"""OffsetTracker: the commit point never passes a record still being handled."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from akx_runtime._offsets import OffsetTracker


def points(tracker: OffsetTracker, *, only_new: bool = False) -> dict[tuple[str, int], int]:
    return {(tp.topic, tp.partition): tp.offset for tp in tracker.commit_points(only_new=only_new)}


@st.composite
def schedules(draw: st.DrawFn) -> list[tuple[str, int, int]]:
    """Interleaved ('start' | 'finish', partition, offset) steps, as a consumer makes them.

    Offsets of a partition arrive in increasing order, possibly with gaps (compacted or
    transactional offsets); any record in flight may finish next.
    """
    next_offset = {0: draw(st.integers(0, 5)), 1: draw(st.integers(0, 5))}
    in_flight: dict[int, list[int]] = {0: [], 1: []}
    steps: list[tuple[str, int, int]] = []
    for _ in range(draw(st.integers(1, 60))):
        partition = draw(st.sampled_from([0, 1]))
        if in_flight[partition] and draw(st.booleans()):
            offset = draw(st.sampled_from(in_flight[partition]))
            in_flight[partition].remove(offset)
            steps.append(("finish", partition, offset))
        else:
            offset = next_offset[partition]
            next_offset[partition] = offset + 1 + draw(st.integers(0, 2))
            in_flight[partition].append(offset)
            steps.append(("start", partition, offset))
    return steps


@settings(max_examples=150, deadline=None)
@given(steps=schedules())
def test_commit_point_is_the_lowest_unfinished_offset(steps: list[tuple[str, int, int]]) -> None:
    tracker = OffsetTracker()
    unfinished: dict[int, set[int]] = {0: set(), 1: set()}
    highest: dict[int, int] = {}
    last_committed: dict[int, int] = {}
    for action, partition, offset in steps:
        if action == "start":
            tracker.started("t", partition, offset)
            unfinished[partition].add(offset)
            highest[partition] = offset
        else:
            tracker.finished("t", partition, offset)
            unfinished[partition].discard(offset)

        for (_topic, p), point in points(tracker).items():
            # Never past a record still in flight (it would be lost on a restart) ...
            assert all(point <= o for o in unfinished[p])
            # ... and as far as possible: up to the first unfinished record, or past all.
            expected = min(unfinished[p]) if unfinished[p] else highest[p] + 1
            assert point == expected
            # in_flight counts what is not yet committable (records finished out of
            # order wait behind a lower one): zero exactly when all are finished,
            # which is what draining a revoked partition waits for.
            assert (tracker.in_flight("t", p) == 0) == (not unfinished[p])
            assert tracker.in_flight("t", p) >= len(unfinished[p])
            # The commit point only moves forward.
            assert point >= last_committed.get(p, point)
            last_committed[p] = point


def test_only_new_points_are_reported_once() -> None:
    tracker = OffsetTracker()
    tracker.started("t", 0, 10)
    tracker.started("t", 0, 11)
    assert points(tracker, only_new=True) == {("t", 0): 10}
    assert points(tracker, only_new=True) == {}
    tracker.finished("t", 0, 11)  # out of order: 10 still holds the point
    assert points(tracker, only_new=True) == {}
    tracker.finished("t", 0, 10)
    assert points(tracker, only_new=True) == {("t", 0): 12}
    assert points(tracker, only_new=False) == {("t", 0): 12}


def test_partitions_and_topics_are_independent_and_forgotten_on_revoke() -> None:
    tracker = OffsetTracker()
    tracker.started("a", 0, 5)
    tracker.started("a", 1, 7)
    tracker.started("b", 0, 1)
    tracker.finished("a", 1, 7)
    assert points(tracker) == {("a", 0): 5, ("a", 1): 8, ("b", 0): 1}

    tracker.forget("a", 0)
    assert tracker.in_flight("a", 0) == 0
    assert points(tracker) == {("a", 1): 8, ("b", 0): 1}
    # A late finish for a forgotten partition is ignored.
    tracker.finished("a", 0, 5)
    assert ("a", 0) not in points(tracker)


def test_nothing_to_commit_before_any_record() -> None:
    assert OffsetTracker().commit_points() == []
