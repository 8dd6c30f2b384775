"""Names and values of the akx wire format, kept in one place.

Header names follow the CloudEvents Kafka protocol binding (binary content mode):
every context attribute travels as a ``ce_<name>`` header, except ``datacontenttype``
which travels as ``content-type``. The ``ag*`` extension attributes are the ones
AutoGen's gRPC runtime already puts on its CloudEvents, so AutoGen users can read
akx events with the vocabulary they know.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "AVRO_CONTENT_TYPE",
    "CE_PREFIX",
    "CE_SPECVERSION",
    "CONTENT_TYPE_HEADER",
    "DLQ_ERROR_MESSAGE_HEADER",
    "DLQ_ERROR_TYPE_HEADER",
    "DLQ_SOURCE_OFFSET_HEADER",
    "DLQ_SOURCE_PARTITION_HEADER",
    "DLQ_SOURCE_TOPIC_HEADER",
    "DLQ_TOPIC_SUFFIX",
    "EVENT_TYPE_PREFIX",
    "HEADER_AGENT_SENDER_KEY",
    "HEADER_AGENT_SENDER_TYPE",
    "HEADER_ID",
    "HEADER_MESSAGE_KIND",
    "HEADER_SOURCE",
    "HEADER_SPECVERSION",
    "HEADER_TIME",
    "HEADER_TYPE",
    "MAGIC_BYTE",
    "MESSAGE_KIND_ERROR",
    "MESSAGE_KIND_PUBLISH",
    "MESSAGE_KIND_RPC_REQUEST",
    "MESSAGE_KIND_RPC_RESPONSE",
    "SCHEMA_NAMESPACE",
    "TRACEPARENT_HEADER",
    "TRACESTATE_HEADER",
    "WIRE_HEADER_SIZE",
]

#: Avro namespace of every akx event schema.
SCHEMA_NAMESPACE: Final = "io.akx.events"
#: ``ce_type`` of an event is this prefix plus the event class name.
EVENT_TYPE_PREFIX: Final = SCHEMA_NAMESPACE + "."

#: CloudEvents version written in ``ce_specversion``.
CE_SPECVERSION: Final = "1.0"
#: Prefix of CloudEvents attribute headers (Kafka protocol binding).
CE_PREFIX: Final = "ce_"
HEADER_SPECVERSION: Final = "ce_specversion"
HEADER_ID: Final = "ce_id"
HEADER_SOURCE: Final = "ce_source"
HEADER_TYPE: Final = "ce_type"
HEADER_TIME: Final = "ce_time"
#: The binding maps ``datacontenttype`` to this header, without the ``ce_`` prefix.
CONTENT_TYPE_HEADER: Final = "content-type"
#: Content type of the record value: Avro binary in Confluent wire format.
AVRO_CONTENT_TYPE: Final = "application/avro"

# AutoGen gRPC runtime extension attributes (autogen_ext.runtimes.grpc._constants).
HEADER_AGENT_SENDER_TYPE: Final = "ce_agagentsendertype"
HEADER_AGENT_SENDER_KEY: Final = "ce_agagentsenderkey"
HEADER_MESSAGE_KIND: Final = "ce_agmsgkind"
MESSAGE_KIND_PUBLISH: Final = "publish"
MESSAGE_KIND_RPC_REQUEST: Final = "rpc_request"
MESSAGE_KIND_RPC_RESPONSE: Final = "rpc_response"
MESSAGE_KIND_ERROR: Final = "error"

#: W3C trace context headers, as OpenTelemetry's propagator names them. They pass
#: through unchanged (they are not ``ce_`` attributes).
TRACEPARENT_HEADER: Final = "traceparent"
TRACESTATE_HEADER: Final = "tracestate"

#: First byte of a Confluent wire-format value.
MAGIC_BYTE: Final = 0
#: Magic byte plus the 4-byte big-endian schema id.
WIRE_HEADER_SIZE: Final = 5

#: Dead letters: a record nobody can handle is copied to ``<topic>.dlq`` with its key,
#: value and headers, plus these headers naming the error and where it came from
#: (the names every akx dead-letter topic uses; ``akx dlq list|replay`` reads them).
DLQ_TOPIC_SUFFIX: Final = ".dlq"
DLQ_ERROR_TYPE_HEADER: Final = "dlq-error-type"
DLQ_ERROR_MESSAGE_HEADER: Final = "dlq-error-message"
DLQ_SOURCE_TOPIC_HEADER: Final = "dlq-source-topic"
DLQ_SOURCE_PARTITION_HEADER: Final = "dlq-source-partition"
DLQ_SOURCE_OFFSET_HEADER: Final = "dlq-source-offset"
