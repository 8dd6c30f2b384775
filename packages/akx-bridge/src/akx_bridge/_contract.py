"""The record contract between a bridge and an external handler: header names and builders.

Requests and replies are Kafka records whose value is Avro in Confluent wire format.
Headers carry what routing needs without decoding the value; the package README
describes the contract in language-neutral terms, this module is its one source.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from confluent_kafka import Message

from akx_events import RecordHeaders

__all__ = [
    "AVRO_CONTENT_TYPE",
    "CONTENT_TYPE_HEADER",
    "CORRELATION_ID_HEADER",
    "DLQ_ERROR_MESSAGE_HEADER",
    "DLQ_ERROR_TYPE_HEADER",
    "DLQ_SOURCE_OFFSET_HEADER",
    "DLQ_SOURCE_PARTITION_HEADER",
    "DLQ_SOURCE_TOPIC_HEADER",
    "ERROR_MESSAGE_HEADER",
    "ERROR_TYPE_HEADER",
    "REPLY_TO_HEADER",
    "Header",
    "correlation_id_of",
    "dead_letter_headers",
    "error_headers",
    "header_text",
    "qualified_type_name",
    "raw_correlation_id",
    "reply_headers",
    "request_headers",
]

#: A record header as akx writes it.
Header = tuple[str, bytes]

#: The request's correlation id; replies must carry it back unchanged.
CORRELATION_ID_HEADER: Final = "correlation-id"
#: The topic replies go to.
REPLY_TO_HEADER: Final = "reply-to"
#: Content type of the value (the CloudEvents Kafka binding's name for it).
CONTENT_TYPE_HEADER: Final = "content-type"
#: The only content type the bridge reads: Avro in Confluent wire format.
AVRO_CONTENT_TYPE: Final = "application/avro"
#: On an error reply: the error's type, e.g. ``builtins.ValueError``.
ERROR_TYPE_HEADER: Final = "error-type"
#: On an error reply: a human-readable message.
ERROR_MESSAGE_HEADER: Final = "error-message"
#: On a dead-lettered record: why it was dead-lettered, and where it came from.
DLQ_ERROR_TYPE_HEADER: Final = "dlq-error-type"
DLQ_ERROR_MESSAGE_HEADER: Final = "dlq-error-message"
DLQ_SOURCE_TOPIC_HEADER: Final = "dlq-source-topic"
DLQ_SOURCE_PARTITION_HEADER: Final = "dlq-source-partition"
DLQ_SOURCE_OFFSET_HEADER: Final = "dlq-source-offset"

# CloudEvents attributes (Kafka binding, binary mode), so CloudEvents tooling can read
# requests and replies; the bridge itself only relies on the headers above.
_CE_SPECVERSION: Final = ("ce_specversion", b"1.0")
_AVRO: Final = (CONTENT_TYPE_HEADER, AVRO_CONTENT_TYPE.encode())
# Trace context travels through the handler unchanged.
_PASSED_BACK: Final = frozenset({"traceparent", "tracestate"})
# Headers are not meant for essays; keep error messages readable and bounded.
_MAX_MESSAGE_CHARS: Final = 2000


def _pairs(headers: RecordHeaders | None) -> Iterable[tuple[str, bytes | str | None]]:
    if not headers:
        return ()
    return headers.items() if isinstance(headers, Mapping) else headers


def header_text(headers: RecordHeaders | None, name: str) -> str | None:
    """The first header called ``name`` as text, or ``None`` (absent or not UTF-8)."""
    for key, value in _pairs(headers):
        if key == name:
            if value is None:
                return None
            if isinstance(value, str):
                return value
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                return None
    return None


def raw_correlation_id(message: Message, headers: RecordHeaders | None) -> bytes | None:
    """A record's correlation id as bytes: the ``correlation-id`` header, else the key."""
    for name, value in _pairs(headers):
        if name == CORRELATION_ID_HEADER:
            if value:
                return value.encode() if isinstance(value, str) else value
            break
    key = message.key()
    if key:
        return key.encode() if isinstance(key, str) else key
    return None


def correlation_id_of(message: Message) -> str | None:
    """A record's correlation id as text (``None``: absent or not UTF-8)."""
    found = raw_correlation_id(message, message.headers())
    if found is None:
        return None
    try:
        return found.decode("utf-8")
    except UnicodeDecodeError:
        return None


def qualified_type_name(error: BaseException) -> str:
    """``module.QualName`` of an exception's type."""
    cls = type(error)
    return f"{cls.__module__}.{cls.__qualname__}"


def _bounded(text: str) -> bytes:
    if len(text) > _MAX_MESSAGE_CHARS:
        text = text[: _MAX_MESSAGE_CHARS - 3] + "..."
    return text.encode("utf-8", "replace")


def request_headers(
    correlation_id: bytes, reply_to: bytes, ce_type: bytes, source: bytes
) -> list[Header]:
    """The headers of a request record (values already UTF-8 encoded)."""
    return [
        (CORRELATION_ID_HEADER, correlation_id),
        (REPLY_TO_HEADER, reply_to),
        _AVRO,
        _CE_SPECVERSION,
        ("ce_id", correlation_id),
        ("ce_source", source),
        ("ce_type", ce_type),
    ]


def _passed_back(request: RecordHeaders | None) -> list[Header]:
    return [
        (name, value.encode() if isinstance(value, str) else value)
        for name, value in _pairs(request)
        if name in _PASSED_BACK and value is not None
    ]


def reply_headers(
    correlation_id: bytes, ce_type: bytes, source: bytes, request: RecordHeaders | None
) -> list[Header]:
    """The headers of a successful reply to a request carrying ``request`` headers."""
    return [
        (CORRELATION_ID_HEADER, correlation_id),
        _AVRO,
        _CE_SPECVERSION,
        ("ce_id", correlation_id + b":reply"),
        ("ce_source", source),
        ("ce_type", ce_type),
        *_passed_back(request),
    ]


def error_headers(
    correlation_id: bytes, error_type: str, message: str, request: RecordHeaders | None
) -> list[Header]:
    """The headers of an error reply (its value is empty)."""
    return [
        (CORRELATION_ID_HEADER, correlation_id),
        (ERROR_TYPE_HEADER, error_type.encode()),
        (ERROR_MESSAGE_HEADER, _bounded(message)),
        *_passed_back(request),
    ]


def dead_letter_headers(
    message: Message, error_type: str, error_message: str
) -> list[tuple[str, bytes | None]]:
    """The original record's headers plus why and from where it was dead-lettered."""
    kept: list[tuple[str, bytes | None]] = [
        (name, value.encode() if isinstance(value, str) else value)
        for name, value in _pairs(message.headers())
    ]
    return [
        *kept,
        (DLQ_ERROR_TYPE_HEADER, error_type.encode()),
        (DLQ_ERROR_MESSAGE_HEADER, _bounded(error_message)),
        (DLQ_SOURCE_TOPIC_HEADER, (message.topic() or "").encode()),
        (DLQ_SOURCE_PARTITION_HEADER, str(message.partition()).encode()),
        (DLQ_SOURCE_OFFSET_HEADER, str(message.offset()).encode()),
    ]
