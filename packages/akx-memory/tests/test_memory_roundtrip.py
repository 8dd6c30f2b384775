"""Random MemoryContent round trips: through encode/decode, and through the real broker.

The broker round trip writes with one instance and reads with another (which decodes
the record from the topic), sharing both instances across examples: they run on an
event loop in a background thread because hypothesis drives synchronous tests.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from autogen_core import Image
from autogen_core.memory import MemoryContent, MemoryMimeType
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

from akx_events import KafkaConfig
from akx_memory import KafkaMemory, KafkaMemoryConfig, decode_content, encode_content

T = TypeVar("T")

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)
JSON_OBJECTS = st.dictionaries(st.text(), JSON_VALUES, max_size=5)


@st.composite
def images(draw: st.DrawFn) -> Image:
    width, height = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    pixels = draw(st.binary(min_size=width * height * 3, max_size=width * height * 3))
    return Image(PILImage.frombytes("RGB", (width, height), pixels))


CONTENTS = st.one_of(st.text(), st.binary(), JSON_OBJECTS, images())
MIME_TYPES = st.sampled_from(list(MemoryMimeType)) | st.text(max_size=20)
MEMORY_CONTENTS = st.builds(
    MemoryContent,
    content=CONTENTS,
    mime_type=MIME_TYPES,
    metadata=st.none() | JSON_OBJECTS,
)


def exact(content: MemoryContent) -> tuple[Any, ...]:
    """What must survive a round trip: types, values, key order, float signs."""
    value = content.content
    shown = value.to_base64() if isinstance(value, Image) else repr(value)
    mime = content.mime_type
    return (type(value), shown, type(mime), repr(mime), repr(content.metadata))


def round_trip(content: MemoryContent) -> MemoryContent:
    encoded = encode_content(content)
    return decode_content(encoded.data, encoded.mime_type, encoded.metadata_json, encoded.form)


@settings(max_examples=300, deadline=None)
@given(MEMORY_CONTENTS)
def test_every_content_round_trips_exactly(content: MemoryContent) -> None:
    assert exact(round_trip(content)) == exact(content)


class LoopThread:
    """An event loop in a daemon thread; ``run`` waits for a coroutine's result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def writer_and_reader(
    memory_kafka_config: KafkaConfig,
) -> Iterator[tuple[LoopThread, KafkaMemory, KafkaMemory]]:
    config = KafkaMemoryConfig(
        kafka_config=memory_kafka_config, memory_topic=f"mem-roundtrip-{uuid.uuid4().hex[:8]}"
    )
    runner = LoopThread()

    async def open_both() -> tuple[KafkaMemory, KafkaMemory]:
        writer, reader = KafkaMemory(config, "s"), KafkaMemory(config, "s")
        await writer.start()
        await reader.start()
        return writer, reader

    writer, reader = runner.run(open_both())
    try:
        yield runner, writer, reader
    finally:
        runner.run(writer.close())
        runner.run(reader.close())
        runner.close()


async def _write_then_read(
    writer: KafkaMemory, reader: KafkaMemory, content: MemoryContent
) -> tuple[MemoryContent | None, MemoryContent | None]:
    memory_id = await writer.add_entry(content)
    deadline = time.monotonic() + 10
    while reader.get(memory_id) is None and time.monotonic() < deadline:
        await asyncio.sleep(0.002)
    return writer.get(memory_id), reader.get(memory_id)


@settings(max_examples=30, deadline=None)
@given(MEMORY_CONTENTS)
def test_every_content_round_trips_exactly_through_the_broker(
    writer_and_reader: tuple[LoopThread, KafkaMemory, KafkaMemory], content: MemoryContent
) -> None:
    runner, writer, reader = writer_and_reader
    written, read = runner.run(_write_then_read(writer, reader, content))
    assert written is not None and read is not None
    assert exact(written) == exact(content)
    assert exact(read) == exact(content)
