"""RequestConsumer's limit on records in flight, with records fed by hand (no broker).

The broker test (``test_runtime_kafka.py``) shows the limit and the paused fetching
end to end; these check the bookkeeping around it: order, commit points below
waiting records, revocation, and records skipped because the journal shows them done.
"""

from __future__ import annotations

import asyncio
from typing import Any

from confluent_kafka import Message, TopicPartition
from hypothesis import given, settings
from hypothesis import strategies as st

from akx_runtime._journal import JournalTail
from akx_runtime._request_consumer import RequestConsumer

TOPIC = "requests.t"


class Handlers:
    """Records the order handlers start in; each waits until released."""

    def __init__(self) -> None:
        self.started: list[tuple[int, int]] = []
        self.release: dict[tuple[int, int], asyncio.Future[None]] = {}

    async def __call__(self, message: Message) -> asyncio.Future[Any] | None:
        where = (message.partition() or 0, message.offset() or 0)
        self.started.append(where)
        self.release[where] = asyncio.get_running_loop().create_future()
        await self.release[where]
        return None

    def finish(self, where: tuple[int, int]) -> None:
        self.release[where].set_result(None)


def consumer(handle: Handlers, limit: int) -> RequestConsumer:
    # Never started: only its bookkeeping runs, the librdkafka consumer is not created.
    return RequestConsumer(
        agent_type="t",
        topic=TOPIC,
        consumer_config={"bootstrap.servers": "localhost:1", "group.id": "g"},
        handle=handle,
        max_in_flight=limit,
    )


def record(partition: int, offset: int) -> Message:
    return Message(topic=TOPIC, partition=partition, offset=offset, key=b"k", value=b"v")


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def commit_point(requests: RequestConsumer, partition: int) -> int | None:
    points = requests._offsets.commit_points(only_new=False)  # pyright: ignore[reportPrivateUsage]
    return next((p.offset for p in points if p.partition == partition), None)


async def test_records_start_in_order_and_never_more_than_the_limit() -> None:
    handlers = Handlers()
    requests = consumer(handlers, limit=2)
    requests._on_batch([record(0, n) for n in range(5)])  # pyright: ignore[reportPrivateUsage]
    await settle()
    assert handlers.started == [(0, 0), (0, 1)]
    assert requests.in_flight == 2 and requests.busy == 5
    assert requests._consumer.holding  # pyright: ignore[reportPrivateUsage]
    # Nothing waiting is committed: the commit point stays at the first record in flight.
    assert commit_point(requests, 0) == 0

    handlers.finish((0, 1))
    await settle()
    assert handlers.started == [(0, 0), (0, 1), (0, 2)]
    assert commit_point(requests, 0) == 0  # (0, 0) still runs
    handlers.finish((0, 0))
    await settle()
    assert handlers.started[-1] == (0, 3)
    assert commit_point(requests, 0) == 2  # 2 runs; 3 and 4 were never passed

    for offset in (2, 3):
        handlers.finish((0, offset))
        await settle()
    handlers.finish((0, 4))
    await settle()
    assert handlers.started == [(0, n) for n in range(5)]
    assert requests.busy == 0 and requests.in_flight == 0
    assert not requests._consumer.holding  # pyright: ignore[reportPrivateUsage]
    assert commit_point(requests, 0) == 5


async def test_fetching_resumes_while_fewer_than_the_limit_wait() -> None:
    handlers = Handlers()
    requests = consumer(handlers, limit=3)
    requests._on_batch([record(0, n) for n in range(5)])  # pyright: ignore[reportPrivateUsage]
    await settle()
    # 3 run, 2 wait: fewer than the limit, so the consumer keeps fetching.
    assert requests.in_flight == 3 and requests.busy == 5
    assert not requests._consumer.holding  # pyright: ignore[reportPrivateUsage]
    requests._on_batch([record(0, n) for n in range(5, 9)])  # pyright: ignore[reportPrivateUsage]
    await settle()
    assert requests.busy == 9
    assert requests._consumer.holding  # pyright: ignore[reportPrivateUsage]  # 6 wait
    for offset in range(4):
        handlers.finish((0, offset))
        await settle()
    # 4 more started, 2 still wait: fetching resumed before the worker ran dry.
    assert handlers.started == [(0, n) for n in range(7)]
    assert requests.busy == 5
    assert not requests._consumer.holding  # pyright: ignore[reportPrivateUsage]


async def test_revocation_drops_waiting_records_of_the_revoked_partitions_only() -> None:
    handlers = Handlers()
    requests = consumer(handlers, limit=1)
    requests._on_batch(  # pyright: ignore[reportPrivateUsage]
        [record(0, 0), record(1, 0), record(1, 1), record(0, 1)]
    )
    await settle()
    assert handlers.started == [(0, 0)]

    # Partition 1 moves on before any of its records ran: nothing of it is committed
    # here, so its next owner reads both records from the group's last commit.
    points = await requests._on_revoke([TopicPartition(TOPIC, 1)])  # pyright: ignore[reportPrivateUsage]
    assert points == []
    assert requests.busy == 2  # (0, 0) running, (0, 1) waiting

    handlers.finish((0, 0))
    await settle()
    handlers.finish((0, 1))
    await settle()
    assert handlers.started == [(0, 0), (0, 1)]
    assert requests.busy == 0 and not requests._consumer.holding  # pyright: ignore[reportPrivateUsage]


async def test_many_records_the_journal_shows_done_are_skipped_without_recursion() -> None:
    handlers = Handlers()
    requests = consumer(handlers, limit=1)
    # An earlier owner handled offsets below 5,000: each is skipped and frees its
    # slot at once, inside the dispatch loop.
    requests._tails[0] = JournalTail(commit_point=5000)  # pyright: ignore[reportPrivateUsage]
    requests._on_batch([record(0, n) for n in range(5002)])  # pyright: ignore[reportPrivateUsage]
    await settle()
    assert requests.skipped == 5000
    assert handlers.started == [(0, 5000)]
    assert commit_point(requests, 0) == 5000
    handlers.finish((0, 5000))
    await settle()
    handlers.finish((0, 5001))
    await settle()
    assert handlers.started == [(0, 5000), (0, 5001)] and requests.busy == 0


@settings(max_examples=30, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=4),
    partitions=st.lists(st.integers(min_value=0, max_value=2), min_size=1, max_size=30),
    # Drawn up front: drawing inside the event loop could stop the example midway.
    picks=st.lists(st.integers(min_value=0, max_value=1000), min_size=30, max_size=30),
)
def test_any_finishing_order_keeps_the_limit_and_commits_only_handled_prefixes(
    limit: int, partitions: list[int], picks: list[int]
) -> None:
    async def run() -> None:
        handlers = Handlers()
        requests = consumer(handlers, limit=limit)
        next_offset = [0, 0, 0]
        batch: list[Message] = []
        for partition in partitions:
            batch.append(record(partition, next_offset[partition]))
            next_offset[partition] += 1
        requests._on_batch(batch)  # pyright: ignore[reportPrivateUsage]
        await settle()
        finished: set[tuple[int, int]] = set()
        while len(finished) < len(batch):
            assert requests.in_flight <= limit
            running = [w for w in handlers.started if w not in finished]
            assert running, "records wait although nothing runs"
            where = running[picks[len(finished)] % len(running)]
            handlers.finish(where)
            finished.add(where)
            await settle()
            for partition in range(3):
                point = commit_point(requests, partition)
                if point is not None:
                    # Every record below a commit point has been handled.
                    assert all((partition, o) in finished for o in range(point))
        # Each partition's records started in offset order.
        for partition in range(3):
            offsets = [o for p, o in handlers.started if p == partition]
            assert offsets == sorted(offsets) == list(range(next_offset[partition]))
        assert requests.busy == 0 and not requests._consumer.holding  # pyright: ignore[reportPrivateUsage]

    asyncio.run(run())
