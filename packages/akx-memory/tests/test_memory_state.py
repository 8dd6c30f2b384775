"""SessionState: log order, read-your-writes overlay, and lazy decoding equal to eager."""

from __future__ import annotations

from autogen_core.memory import MemoryContent, MemoryMimeType
from confluent_kafka import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from akx_memory._state import Change, SessionState


def text(value: str) -> MemoryContent:
    return MemoryContent(content=value, mime_type=MemoryMimeType.TEXT)


def decode(memory_id: str, record: Message) -> Change | None:
    """Test records: b"add:<text>", b"delete", anything else unreadable."""
    value = record.value() or b""
    if value.startswith(b"add:"):
        return Change(action="add", memory_id=memory_id, content=text(value[4:].decode()))
    if value == b"delete":
        return Change(action="delete", memory_id=memory_id)
    return None


def record(offset: int, value: bytes) -> Message:
    return Message(topic="t", partition=0, offset=offset, value=value)


def shown(state: SessionState) -> list[tuple[str, object]]:
    return [(memory_id, content.content) for memory_id, content in state.visible().items()]


def test_own_write_is_visible_at_once_and_reading_it_back_changes_nothing() -> None:
    state = SessionState(decode)
    state.acknowledged(5, Change(action="add", memory_id="k", content=text("mine")))
    assert shown(state) == [("k", "mine")]
    state.apply(4, Change(action="add", memory_id="r", content=text("remote")))
    assert shown(state) == [("r", "remote"), ("k", "mine")]
    version = state.version
    own = state.own_change_at(5)
    assert own is not None
    state.apply(5, own)
    assert state.version == version
    assert shown(state) == [("r", "remote"), ("k", "mine")]
    assert state.pending_count == 0


def test_a_remote_write_earlier_in_the_log_does_not_override_a_later_own_write() -> None:
    state = SessionState(decode)
    state.apply(0, Change(action="add", memory_id="k", content=text("v1")))
    state.acknowledged(2, Change(action="update", memory_id="k", content=text("mine")))
    state.apply(1, Change(action="update", memory_id="k", content=text("remote")))
    assert shown(state) == [("k", "mine")]
    own = state.own_change_at(2)
    assert own is not None
    state.apply(2, own)
    assert shown(state) == [("k", "mine")]


def test_own_clear_then_add_never_flickers() -> None:
    state = SessionState(decode)
    state.apply(0, Change(action="add", memory_id="old", content=text("old")))
    state.acknowledged(2, Change(action="clear"))
    state.acknowledged(3, Change(action="add", memory_id="y", content=text("new")))
    views = [shown(state)]
    state.apply(1, Change(action="add", memory_id="z", content=text("racing")))
    views.append(shown(state))
    for offset in (2, 3):
        own = state.own_change_at(offset)
        assert own is not None
        state.apply(offset, own)
        views.append(shown(state))
    assert views == [[("y", "new")]] * 4


def test_an_acknowledgement_after_the_record_was_read_is_ignored() -> None:
    state = SessionState(decode)
    state.apply(7, Change(action="add", memory_id="k", content=text("v")))
    state.acknowledged(7, Change(action="add", memory_id="k", content=text("v")))
    assert state.pending_count == 0
    assert shown(state) == [("k", "v")]


def test_a_pending_write_that_compaction_removed_stops_being_pending() -> None:
    state = SessionState(decode)
    state.acknowledged(3, Change(action="add", memory_id="k", content=text("mine")))
    state.apply(4, Change(action="update", memory_id="k", content=text("newer")))
    assert state.pending_count == 0
    assert shown(state) == [("k", "newer")]


def test_an_unreadable_newest_record_leaves_the_last_readable_one_in_its_place() -> None:
    state = SessionState(decode)
    state.file("k", 1, record(1, b"add:first"))
    state.file("l", 2, record(2, b"add:second"))
    state.file("k", 3, record(3, b"garbage"))
    assert shown(state) == [("k", "first"), ("l", "second")]


def test_filed_records_decode_only_when_read() -> None:
    calls: list[int] = []

    def counting(memory_id: str, rec: Message) -> Change | None:
        calls.append(rec.offset() or 0)
        return decode(memory_id, rec)

    state = SessionState(counting)
    for offset in range(5):
        state.file("k", offset, record(offset, f"add:v{offset}".encode()))
    assert calls == []
    assert state.encoded_count == 1
    assert shown(state) == [("k", "v4")]
    assert calls == [4]  # the newest readable record decides; older ones are never read


OPS = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d"]),
        st.sampled_from(["add", "delete", "bad", "clear"]),
        st.integers(0, 9),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(OPS, st.integers(0, 40))
def test_lazy_decoding_equals_applying_every_record_in_order(
    ops: list[tuple[str, str, int]], read_at: int
) -> None:
    expected: dict[str, str] = {}
    state = SessionState(decode)
    for offset, (memory_id, action, n) in enumerate(ops):
        if offset == read_at:
            state.visible()  # reading part-way must not change the outcome
        if action == "clear":
            expected.clear()
            state.apply(offset, Change(action="clear"))
            continue
        if action == "add":
            expected.pop(memory_id, None)
            expected[memory_id] = f"v{n}"
            value = f"add:v{n}".encode()
        elif action == "delete":
            expected.pop(memory_id, None)
            value = b"delete"
        else:
            value = b"bad"
        state.file(memory_id, offset, record(offset, value))
    assert shown(state) == list(expected.items())
    assert state.position == len(ops)
