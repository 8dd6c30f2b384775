"""The typed messages exchanged with the sentiment service (Avro schemas derived from them)."""

from __future__ import annotations

from dataclasses import dataclass

from autogen_kafka_extension.agent.kafka_message_type import KafkaMessageType


@dataclass
class SentimentRequest(KafkaMessageType):
    """A text to score."""

    text: str


@dataclass
class SentimentResponse(KafkaMessageType):
    """The service's verdict: ``positive``, ``negative`` or ``neutral``, and VADER's score."""

    sentiment: str
    score: float = 0.0
