"""BM25 ranking against a small hand-labelled corpus, and the scorer edge cases."""

from __future__ import annotations

import pytest
from autogen_core import Image
from autogen_core.memory import MemoryContent, MemoryMimeType
from PIL import Image as PILImage

from akx_memory import BM25Scorer, MemoryScorer, searchable_text

CORPUS: dict[str, str] = {
    "formal": "The user prefers formal language and dislikes slang in replies.",
    "vegan": "Alice is vegan and avoids all dairy products and eggs.",
    "paris": "The team offsite will be held in Paris in the second week of June.",
    "deadline": "The quarterly report deadline is Friday at noon.",
    "python": "Our backend services are written in Python 3.11 with asyncio.",
    "kafka": "Events are streamed through Apache Kafka topics with Avro schemas.",
    "allergy": "Bob has a severe peanut allergy; never order satay for him.",
    "timezone": "Carol works from Tokyo, nine hours ahead of UTC.",
    "budget": "The marketing budget for next year was cut by twenty percent.",
    "password": "Passwords must be rotated every ninety days according to policy.",
    "coffee": "Dave drinks espresso every morning before the standup meeting.",
    "birthday": "Erin's birthday is on the fourteenth of March; she likes chocolate cake.",
    "laptop": "New hires receive a laptop with sixteen gigabytes of memory.",
    "vacation": "Frank is on vacation hiking in the Alps until the end of August.",
    "parking": "Visitor parking is available behind the building on level two.",
    "invoice": "Invoices are paid by the finance department within thirty days.",
    "language": "Grace speaks Portuguese, Spanish and a little German.",
    "meeting": "The weekly planning meeting moved from Monday to Tuesday mornings.",
    "deploy": "Deployments to production happen only after the integration tests pass.",
    "printer": "The printer on the third floor jams when printing double-sided pages.",
    "dog": "Heidi brings her golden retriever to the office on Fridays.",
    "music": "Ivan plays the cello in a community orchestra on weekends.",
}

QUERIES: list[tuple[str, str]] = [
    ("What tone should replies use? Formal or slang?", "formal"),
    ("Does Alice eat cheese or other dairy?", "vegan"),
    ("Where is the offsite this year?", "paris"),
    ("When is the report due?", "deadline"),
    ("Which programming language do the backend services use?", "python"),
    ("How are events streamed between services?", "kafka"),
    ("Can we order peanut satay for Bob?", "allergy"),
    ("What timezone is Carol in, Tokyo?", "timezone"),
    ("How much was the marketing budget cut?", "budget"),
    ("How often must passwords be rotated?", "password"),
    ("What does Dave drink in the morning?", "coffee"),
    ("When is Erin's birthday and what cake does she like?", "birthday"),
    ("How much memory do the laptops of new hires have?", "laptop"),
    ("Is Frank hiking on vacation?", "vacation"),
    ("Where can visitors park?", "parking"),
    ("Who pays invoices and when?", "invoice"),
    ("Which languages does Grace speak?", "language"),
    ("Which day is the planning meeting now?", "meeting"),
    ("When do deployments to production happen?", "deploy"),
    ("Why does the printer jam?", "printer"),
]

DOCUMENTS = tuple(
    MemoryContent(content=text, mime_type=MemoryMimeType.TEXT) for text in CORPUS.values()
)


@pytest.mark.parametrize(("query", "relevant"), QUERIES, ids=[q for q, _ in QUERIES])
def test_the_relevant_document_ranks_first(query: str, relevant: str) -> None:
    scores = BM25Scorer().score(query, DOCUMENTS)
    best = max(range(len(scores)), key=lambda i: scores[i])
    assert list(CORPUS)[best] == relevant
    assert scores[best] > 0


def test_one_scorer_ranks_all_twenty_queries_from_one_index() -> None:
    scorer = BM25Scorer()
    firsts = []
    for query, _ in QUERIES:
        scores = scorer.score(query, DOCUMENTS)
        firsts.append(list(CORPUS)[max(range(len(scores)), key=lambda i: scores[i])])
    assert firsts == [relevant for _, relevant in QUERIES]


def test_stemming_matches_other_forms_of_a_word() -> None:
    docs = (MemoryContent(content="She prefers running shoes", mime_type="text/plain"),)
    assert BM25Scorer().score("preferred run", docs)[0] > 0
    assert BM25Scorer(language=None).score("preferred run", docs)[0] == 0


def test_queries_without_terms_and_documents_without_text_score_zero() -> None:
    image = Image(PILImage.new("RGB", (2, 2)))
    docs = (
        MemoryContent(content=image, mime_type=MemoryMimeType.IMAGE),
        MemoryContent(content=b"\x00", mime_type=MemoryMimeType.BINARY),
    )
    scorer = BM25Scorer()
    assert scorer.score("anything at all", docs) == [0.0, 0.0]
    assert scorer.score("the of and", DOCUMENTS) == [0.0] * len(DOCUMENTS)
    assert scorer.score("", DOCUMENTS) == [0.0] * len(DOCUMENTS)
    assert scorer.score("query", ()) == []


def test_json_content_is_searched_by_its_keys_and_values() -> None:
    docs = (
        MemoryContent(content={"city": "Lisbon", "tags": ["sunny"]}, mime_type="application/json"),
        MemoryContent(content="rainy Oslo", mime_type="text/plain"),
    )
    scores = BM25Scorer().score("sunny city", docs)
    assert scores[0] > scores[1]
    assert searchable_text(docs[0]) == "city Lisbon tags sunny"


def test_index_is_rebuilt_when_the_documents_change() -> None:
    scorer = BM25Scorer()
    first = (MemoryContent(content="apples", mime_type="text/plain"),)
    second = (*first, MemoryContent(content="pears", mime_type="text/plain"))
    assert scorer.score("pears", first) == [0.0]
    assert scorer.score("pears", second)[1] > 0


def test_bm25_scorer_satisfies_the_protocol() -> None:
    assert isinstance(BM25Scorer(), MemoryScorer)
