"""The sentiment model: VADER's lexicon, shipped in the vaderSentiment package (offline)."""

from __future__ import annotations

from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from .modules.events import SentimentRequest, SentimentResponse

#: VADER's customary thresholds on the compound score.
POSITIVE_FROM = 0.05
NEGATIVE_TO = -0.05


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def label(score: float) -> str:
    """``positive``, ``negative`` or ``neutral`` for a compound score in [-1, 1]."""
    if score >= POSITIVE_FROM:
        return "positive"
    if score <= NEGATIVE_TO:
        return "negative"
    return "neutral"


async def score_request(request: SentimentRequest) -> SentimentResponse:
    """The stream processor's transform: one request in, one response out."""
    score = float(_analyzer().polarity_scores(request.text)["compound"])
    return SentimentResponse(sentiment=label(score), score=score)
