"""``KafkaMemory``: an AutoGen ``Memory`` whose contents are replicated through a Kafka topic."""

from __future__ import annotations

import asyncio
import inspect
import uuid
import warnings
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Literal

from autogen_core import CancellationToken
from autogen_core.memory import Memory, MemoryContent, MemoryQueryResult, UpdateContextResult
from autogen_core.model_context import ChatCompletionContext
from autogen_core.models import SystemMessage
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider
from typing_extensions import Self

from akx_events import ConfigurationError

from ._changelog import MemoryChangelog
from ._codec import EncodedContent, decode_content, encode_content
from ._config import KafkaMemoryConfig
from ._context import last_message_text
from ._lag import ReplicationLag
from ._scoring import BM25Scorer, MemoryScorer, searchable_text
from ._state import Change, SessionState
from ._telemetry import MemoryTelemetry
from .exceptions import KafkaMemoryError, MemoryEntryNotFoundError, MemoryStateError

__all__ = ["KafkaMemory", "KafkaMemoryQueryResult"]

#: Keys that query results add to a copy of each entry's metadata.
SCORE_KEY = "score"
MEMORY_ID_KEY = "memory_id"

_Phase = Literal["new", "started", "closed"]


class KafkaMemoryQueryResult(MemoryQueryResult):
    """AutoGen's ``MemoryQueryResult``, also readable as ``.memories``."""

    @property
    def memories(self) -> list[MemoryContent]:
        """The results (the name the original extension's examples use)."""
        return self.results


_DECODE_SLICE = 500


class KafkaMemory(Memory):
    """An AutoGen ``Memory`` shared by every instance with the same session id, in any process.

    Changes are records on a compacted Kafka topic; ``async with`` (or :meth:`start`)
    replays the session's records, then follows new ones, so all instances converge
    to the same contents and a new instance recovers them after all others stopped.
    Writes return once the broker acknowledged them and are visible to the writer's
    own queries at once. Queries rank entries with BM25 by default.

    Args:
        config: topic, Kafka connection and query defaults.
        session_id: the session; instances of other sessions on the same topic see
            nothing of this one.
        scorer: ranks entries for :meth:`query`; :class:`BM25Scorer` by default.
        name: a name for this memory (AutoGen's ``Memory`` naming); defaults to
            ``kafka_memory:<session_id>``.
        tracer_provider: OpenTelemetry tracer provider; the global one by default.
        meter_provider: OpenTelemetry meter provider; the global one by default.
    """

    def __init__(
        self,
        config: KafkaMemoryConfig,
        session_id: str,
        *,
        scorer: MemoryScorer | None = None,
        name: str | None = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        if not isinstance(session_id, str) or not session_id:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigurationError("session_id", f"{session_id!r} must be a non-empty string")
        self._config = config
        self._session_id = session_id
        self._scorer: MemoryScorer = scorer if scorer is not None else BM25Scorer()
        self._name = name or f"kafka_memory:{session_id}"
        self._source = f"akx-memory/{uuid.uuid4().hex[:16]}"
        telemetry = MemoryTelemetry(config.memory_topic, tracer_provider, meter_provider)
        self._changelog = MemoryChangelog(config, session_id, self._source, telemetry)
        self._state: SessionState = self._changelog.reader.state
        self._phase: _Phase = "new"
        self._lock = asyncio.Lock()
        self._snapshot_version = -1
        self._ids: tuple[str, ...] = ()
        self._documents: tuple[MemoryContent, ...] = ()

    # -- identity and metrics -----------------------------------------------------------

    @property
    def name(self) -> str:
        """This memory's name."""
        return self._name

    @property
    def session_id(self) -> str:
        """The session this instance belongs to."""
        return self._session_id

    @property
    def config(self) -> KafkaMemoryConfig:
        """The configuration."""
        return self._config

    @property
    def source(self) -> str:
        """This instance's writer id, the ``source`` of the records it writes."""
        return self._source

    @property
    def lag(self) -> ReplicationLag:
        """Lag samples of remote writes applied since the replay finished."""
        return self._changelog.reader.lag

    @property
    def replication_lag(self) -> float | None:
        """Seconds between the last remote write applied here and its writing, if any."""
        return self._changelog.reader.lag.last

    @property
    def dead_letter_count(self) -> int:
        """Unreadable records this instance skipped and copied to the dead-letter topic."""
        return self._changelog.dead_letter_count

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and replay the session's records up to the end offset found at start.

        Raises:
            MemoryStateError: the memory was closed.
            ReplayTimeoutError: the replay took longer than ``start_timeout``.
            KafkaTransportError: the broker or Schema Registry failed; the memory is
                closed then.
        """
        async with self._lock:
            if self._phase == "started":
                return
            if self._phase == "closed":
                raise MemoryStateError(f"{self._name} was closed and cannot be started again")
            try:
                await self._changelog.start()
            except BaseException:
                self._phase = "closed"
                await self._changelog.stop()
                raise
            self._phase = "started"

    async def close(self) -> None:
        """Stop following the topic and release every client and thread. Idempotent."""
        async with self._lock:
            if self._phase == "closed":
                return
            self._phase = "closed"
            await self._changelog.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __del__(self) -> None:
        if getattr(self, "_phase", None) == "started":
            warnings.warn(f"KafkaMemory {self._name!r} was not closed", ResourceWarning, 2)

    def _require_started(self) -> None:
        if self._phase != "started":
            state = "closed" if self._phase == "closed" else "not started (use async with)"
            raise MemoryStateError(f"{self._name} is {state}")

    # -- writes ---------------------------------------------------------------------------

    async def _write(
        self, change: Change, encoded: EncodedContent | None, token: CancellationToken | None
    ) -> None:
        self._require_started()
        if token is None:
            await self._changelog.write(change, encoded)
            return
        future = asyncio.ensure_future(self._changelog.write(change, encoded))
        token.link_future(future)
        await future

    def _prepared(
        self, action: Literal["add", "update"], memory_id: str, content: MemoryContent
    ) -> tuple[Change, EncodedContent]:
        encoded = encode_content(content)
        # Keep what every other instance will read, not the caller's (mutable) object.
        stored = decode_content(
            encoded.data, encoded.mime_type, encoded.metadata_json, encoded.form
        )
        return Change(action=action, memory_id=memory_id, content=stored), encoded

    async def add(
        self, content: MemoryContent, cancellation_token: CancellationToken | None = None
    ) -> None:
        """Add an entry under a new id; see :meth:`add_entry` to learn or choose the id.

        Raises:
            UnsupportedContentError: the content or metadata cannot be stored exactly.
        """
        await self.add_entry(content, cancellation_token=cancellation_token)

    async def add_entry(
        self,
        content: MemoryContent,
        *,
        memory_id: str | None = None,
        cancellation_token: CancellationToken | None = None,
    ) -> str:
        """Add an entry and return its id, once the broker acknowledged the write.

        Args:
            content: the entry.
            memory_id: the id to store it under (an existing entry with that id is
                replaced); a new random id by default.
            cancellation_token: cancels the wait for the acknowledgement (the record
                may still be written).

        Raises:
            UnsupportedContentError: the content or metadata cannot be stored exactly.
        """
        if memory_id is not None and (not isinstance(memory_id, str) or not memory_id):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValueError(f"memory_id must be a non-empty string, got {memory_id!r}")
        memory_id = memory_id or uuid.uuid4().hex
        change, encoded = self._prepared("add", memory_id, content)
        await self._write(change, encoded, cancellation_token)
        return memory_id

    async def update(self, memory_id: str, content: MemoryContent) -> None:
        """Replace the entry ``memory_id`` (its content, MIME type and metadata).

        Raises:
            MemoryEntryNotFoundError: this instance does not see an entry ``memory_id``.
            UnsupportedContentError: the content or metadata cannot be stored exactly.
        """
        self._require_started()
        if memory_id not in await self._visible():
            raise MemoryEntryNotFoundError(memory_id, self._session_id)
        change, encoded = self._prepared("update", memory_id, content)
        await self._write(change, encoded, None)

    async def delete(self, memory_id: str) -> None:
        """Remove the entry ``memory_id``.

        Raises:
            MemoryEntryNotFoundError: this instance does not see an entry ``memory_id``.
        """
        self._require_started()
        if memory_id not in await self._visible():
            raise MemoryEntryNotFoundError(memory_id, self._session_id)
        await self._write(Change(action="delete", memory_id=memory_id), None, None)

    async def clear(self) -> None:
        """Remove every entry of the session, in every instance (a clear marker record)."""
        await self._write(Change(action="clear"), None, None)

    # -- reads ----------------------------------------------------------------------------

    def get(self, memory_id: str) -> MemoryContent | None:
        """The entry ``memory_id`` exactly as stored (no score), or ``None``."""
        return self._state.visible().get(memory_id)

    def entries(self) -> dict[str, MemoryContent]:
        """Every entry by id, in the order of their latest write."""
        return dict(self._state.visible())

    def __len__(self) -> int:
        return len(self._state.visible())

    async def _visible(self) -> dict[str, MemoryContent]:
        # Records filed by the replay are decoded on first read; in slices, so that a
        # large replay does not hold the event loop for long.
        while not self._state.decode_some(_DECODE_SLICE):
            await asyncio.sleep(0)
        return self._state.visible()

    async def _snapshot(self) -> tuple[tuple[str, ...], tuple[MemoryContent, ...]]:
        # Rebuilt only when the contents change, so scorers can cache per sequence.
        visible = await self._visible()
        if self._snapshot_version != self._state.version:
            self._ids = tuple(visible)
            self._documents = tuple(visible.values())
            self._snapshot_version = self._state.version
        return self._ids, self._documents

    async def _scores(self, text: str, documents: Sequence[MemoryContent]) -> Sequence[float]:
        scores = self._scorer.score(text, documents)
        if inspect.isawaitable(scores):
            scores = await scores
        if len(scores) != len(documents):
            raise KafkaMemoryError(
                f"{type(self._scorer).__name__}.score returned {len(scores)} scores "
                f"for {len(documents)} documents"
            )
        return scores

    async def query(
        self,
        query: str | MemoryContent = "",
        cancellation_token: CancellationToken | None = None,
        *,
        k: int | None = None,
        score_threshold: float | None = None,
        **kwargs: Any,
    ) -> KafkaMemoryQueryResult:
        """The session's entries ranked by relevance to ``query``, best first.

        Each result is a copy of the entry whose metadata also holds ``score`` and
        ``memory_id``. Entries with equal scores keep their order (latest write last),
        so an empty query lists every entry in order, like ``ListMemory``.

        Args:
            query: the text (or a ``MemoryContent`` whose text is used).
            cancellation_token: unused; queries do not wait on the broker.
            k: at most this many results; defaults to ``config.k`` (``None``: all).
            score_threshold: drop results scoring below it; defaults to
                ``config.score_threshold`` (``None``: keep all).
            **kwargs: not accepted; raises ``TypeError`` to catch misspelt options.
        """
        if kwargs:
            raise TypeError(f"KafkaMemory.query() got unexpected arguments {sorted(kwargs)}")
        del cancellation_token
        self._require_started()
        k = self._config.k if k is None else k
        threshold = self._config.score_threshold if score_threshold is None else score_threshold
        ids, documents = await self._snapshot()
        scores = await self._scores(searchable_text(query), documents)
        order = sorted(range(len(documents)), key=lambda i: -scores[i])
        if threshold is not None:
            order = [i for i in order if scores[i] >= threshold]
        if k is not None:
            order = order[:k]
        results = [
            documents[i].model_copy(
                update={
                    "metadata": {
                        **(documents[i].metadata or {}),
                        SCORE_KEY: float(scores[i]),
                        MEMORY_ID_KEY: ids[i],
                    }
                }
            )
            for i in order
        ]
        return KafkaMemoryQueryResult(results=results)

    async def update_context(self, model_context: ChatCompletionContext) -> UpdateContextResult:
        """Add the entries most relevant to the context's last message as a system message.

        The message lists up to ``config.context_k`` entries, best first, numbered as
        ``ListMemory`` does; with no messages (or no text in the last one) the order is
        that of the entries. Nothing is added when there are no results.
        """
        text = last_message_text(await model_context.get_messages())
        result = await self.query(text, k=self._config.context_k)
        if not result.results:
            return UpdateContextResult(memories=result)
        lines = [f"{i}. {memory.content!s}" for i, memory in enumerate(result.results, 1)]
        message = "\nRelevant memory content (most relevant first):\n" + "\n".join(lines) + "\n"
        await model_context.add_message(SystemMessage(content=message))
        return UpdateContextResult(memories=result)
