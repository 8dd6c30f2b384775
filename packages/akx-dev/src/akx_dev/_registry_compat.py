"""Avro schema parsing and compatibility checks for the development Schema Registry."""

from __future__ import annotations

import json
from collections.abc import Sequence

import avro.errors
import avro.schema
import fastavro
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from fastavro.schema import SchemaParseException

__all__ = [
    "COMPATIBILITY_LEVELS",
    "DEFAULT_COMPATIBILITY",
    "InvalidSchemaError",
    "ParsedSchema",
    "compatibility_problems",
    "parse_avro",
]

#: The levels Confluent's registry accepts, in its documentation's order.
COMPATIBILITY_LEVELS = (
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
)
#: Confluent's global default.
DEFAULT_COMPATIBILITY = "BACKWARD"

ParsedSchema = avro.schema.Schema


class InvalidSchemaError(ValueError):
    """Raised when a schema text is not a valid Avro schema."""


def parse_avro(text: str) -> tuple[ParsedSchema, str]:
    """Parse an Avro schema and return it with its canonical text.

    The canonical text is the parsed schema written back as compact JSON, so two
    texts that differ only in whitespace, key order or name qualification get the
    same text (and therefore the same schema id), as in Confluent's registry.

    Raises:
        InvalidSchemaError: the text is not JSON or not a valid Avro schema.
    """
    try:
        parsed = avro.schema.parse(text)
        # The avro package does not check field defaults; fastavro (which the
        # Confluent serializers use) does, and Confluent's registry rejects them too.
        fastavro.parse_schema(json.loads(text))  # pyright: ignore[reportUnknownMemberType]
    except (
        avro.errors.AvroException,
        SchemaParseException,
        ValueError,
        TypeError,
        KeyError,
    ) as exc:
        raise InvalidSchemaError(str(exc)) from exc
    return parsed, json.dumps(parsed.to_json(), separators=(",", ":"))


def _problems(reader: ParsedSchema, writer: ParsedSchema, direction: str) -> list[str]:
    # A fresh checker each time: it memoizes results per schema pair.
    result = ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    kinds = ", ".join(sorted(kind.value.upper() for kind in result.incompatibilities))
    where = ", ".join(sorted(result.locations))
    names = ", ".join(sorted(result.messages))
    return [f"{direction}: {kinds} at {where} ({names})"]


def compatibility_problems(
    level: str, new: ParsedSchema, previous: Sequence[ParsedSchema]
) -> list[str]:
    """Check ``new`` against earlier schemas of a subject under a compatibility level.

    Args:
        level: one of :data:`COMPATIBILITY_LEVELS`.
        new: the schema being registered or tested.
        previous: the subject's live schemas, oldest first. Non-transitive levels
            look at the last one only.

    Returns:
        Human-readable problems; empty when ``new`` is compatible.
    """
    if level == "NONE" or not previous:
        return []
    targets = previous if level.endswith("_TRANSITIVE") else previous[-1:]
    backward = level.startswith(("BACKWARD", "FULL"))
    forward = level.startswith(("FORWARD", "FULL"))
    problems: list[str] = []
    for old in reversed(targets):
        if backward:
            problems += _problems(
                new, old, "the new schema cannot read data written with an old one"
            )
        if forward:
            problems += _problems(
                old, new, "an old schema cannot read data written with the new one"
            )
    return problems
