"""Relevance scoring of memory entries: the scorer protocol and the default BM25 scorer."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol, cast, runtime_checkable

import bm25s  # pyright: ignore[reportMissingTypeStubs]
import Stemmer  # pyright: ignore[reportMissingTypeStubs]
from autogen_core.memory import MemoryContent

__all__ = ["BM25Scorer", "MemoryScorer", "searchable_text"]

# bm25s sets its own logger to DEBUG on import, which overrides the application's
# logging level and logs every index build; give the choice back to the application.
if logging.getLogger("bm25s").level == logging.DEBUG:
    logging.getLogger("bm25s").setLevel(logging.NOTSET)


@runtime_checkable
class MemoryScorer(Protocol):
    """Scores memory entries against a query; higher is more relevant.

    ``score`` returns one number per document, in the order of ``documents``. It may
    be a coroutine function (``async def score``), e.g. for a scorer that asks an
    embedding service; ``KafkaMemory`` awaits the result then. A synchronous scorer
    runs on the event loop, so it should be quick (BM25 over 10,000 entries takes a
    few milliseconds).

    ``KafkaMemory`` passes the *same* sequence object for as long as the session's
    contents do not change, so a scorer may cache work (an index, embeddings) keyed
    on the identity of ``documents``.
    """

    def score(
        self, query: str, documents: Sequence[MemoryContent]
    ) -> Sequence[float] | Awaitable[Sequence[float]]:
        """One relevance score per document for ``query``."""
        ...


def _flatten(value: Any, out: list[str]) -> None:
    if isinstance(value, dict):
        for key, item in cast("dict[Any, Any]", value).items():
            out.append(str(key))
            _flatten(item, out)
    elif isinstance(value, list):
        for item in cast("list[Any]", value):
            _flatten(item, out)
    elif value is not None and not isinstance(value, bool):
        out.append(str(value))


def searchable_text(content: str | MemoryContent) -> str:
    """The text a lexical scorer sees for a query or an entry.

    Text and Markdown content as it is; JSON content as its keys and values; images
    and binary content have no text (they only match through ``score_threshold=None``).
    """
    if isinstance(content, str):
        return content
    value = content.content
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        parts: list[str] = []
        _flatten(value, parts)
        return " ".join(parts)
    return ""


class BM25Scorer:
    """Okapi BM25 ranking with stop words and Snowball stemming (the default scorer).

    Built on `bm25s <https://github.com/xhluca/bm25s>`_: the index is a sparse matrix
    of precomputed term scores, rebuilt when the set of documents changes (detected by
    the identity of the ``documents`` sequence), so repeated queries against unchanged
    contents only sum a few matrix columns.

    Args:
        language: Snowball stemmer language (``"english"``, ``"german"`` ...), or
            ``None`` to match words without stemming.
        stopwords: a bm25s stop word list name (``"en"``, ``"de"`` ...), a list of
            words, or ``None`` to keep every word.
        k1: term frequency saturation.
        b: document length normalisation.
        method: BM25 variant: ``lucene``, ``robertson``, ``atire``, ``bm25l`` or ``bm25+``.
    """

    def __init__(
        self,
        *,
        language: str | None = "english",
        stopwords: str | list[str] | None = "en",
        k1: float = 1.5,
        b: float = 0.75,
        method: str = "lucene",
    ) -> None:
        self._stemmer: Any = (
            Stemmer.Stemmer(language)  # pyright: ignore[reportUnknownMemberType]
            if language
            else None
        )
        self._stopwords = stopwords if stopwords is not None else []
        self._k1 = k1
        self._b = b
        self._method = method
        self._documents: Sequence[MemoryContent] | None = None
        self._index: Any = None
        # id(document) -> (document, tokens); holding the document keeps its id unique.
        self._tokens: dict[int, tuple[MemoryContent, list[str]]] = {}

    def _tokenize(self, texts: list[str]) -> list[list[str]]:
        tokens = bm25s.tokenize(  # pyright: ignore[reportUnknownMemberType]
            texts,
            stopwords=self._stopwords,
            stemmer=self._stemmer,
            return_ids=False,
            show_progress=False,
        )
        return cast("list[list[str]]", tokens)

    def _index_for(self, documents: Sequence[MemoryContent]) -> Any:
        if documents is self._documents:
            return self._index
        # Tokens are kept per document object, so a re-index after a change only
        # tokenizes the documents that are new.
        cache = self._tokens
        new = [doc for doc in documents if id(doc) not in cache]
        if new:
            tokenized = self._tokenize([searchable_text(doc) for doc in new])
            for doc, tokens in zip(new, tokenized, strict=True):
                cache[id(doc)] = (doc, tokens)
        corpus = [cache[id(doc)][1] for doc in documents]
        self._tokens = {id(doc): cache[id(doc)] for doc in documents}
        index: Any = None
        # bm25s cannot index a corpus without a single term (nothing would match then).
        if any(corpus):
            index = bm25s.BM25(k1=self._k1, b=self._b, method=self._method)
            index.index(corpus, show_progress=False)
        # Keep the sequence itself: holding it keeps its identity from being reused.
        self._documents, self._index = documents, index
        return index

    def score(self, query: str, documents: Sequence[MemoryContent]) -> list[float]:
        """BM25 score of each document for ``query`` (0.0 where no query term occurs)."""
        if not documents:
            return []
        terms = self._tokenize([query])[0]
        if not terms:
            return [0.0] * len(documents)
        index = self._index_for(documents)
        if index is None:
            return [0.0] * len(documents)
        scores = index.get_scores(terms)
        return [float(s) for s in scores]
