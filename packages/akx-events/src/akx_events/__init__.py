"""akx-events: the wire contract of akx.

Kafka and Schema Registry configuration, CloudEvents envelopes with Avro bodies,
Schema Registry serdes and the error hierarchy shared by every akx package.
"""

from ._admin import TopicSpec as TopicSpec
from ._admin import ensure_topics as ensure_topics
from ._admin import ensure_topics_sync as ensure_topics_sync
from ._config import ClientSettings as ClientSettings
from ._config import KafkaConfig as KafkaConfig
from ._config import SaslMechanism as SaslMechanism
from ._config import SchemaRegistryConfig as SchemaRegistryConfig
from ._config import SecurityProtocol as SecurityProtocol
from ._consumer import AsyncConsumer as AsyncConsumer
from ._dataclass_avro import avro_schema_for as avro_schema_for
from ._dataclass_avro import from_avro_record as from_avro_record
from ._dataclass_avro import to_avro_record as to_avro_record
from ._dataclass_serde import DataclassSerde as DataclassSerde
from ._event_serde import DecodedEvent as DecodedEvent
from ._event_serde import EventSerde as EventSerde
from ._events import EVENT_TYPES as EVENT_TYPES
from ._events import AgentRef as AgentRef
from ._events import AgentStateEvent as AgentStateEvent
from ._events import AnyEvent as AnyEvent
from ._events import ErrorInfo as ErrorInfo
from ._events import MemoryAction as MemoryAction
from ._events import MemoryEvent as MemoryEvent
from ._events import RegistrationAction as RegistrationAction
from ._events import RegistrationEvent as RegistrationEvent
from ._events import RequestEvent as RequestEvent
from ._events import RequestKind as RequestKind
from ._events import ResponseEvent as ResponseEvent
from ._events import SubscriptionAction as SubscriptionAction
from ._events import SubscriptionEvent as SubscriptionEvent
from ._events import SubscriptionKind as SubscriptionKind
from ._headers import RecordHeaders as RecordHeaders
from ._producer import AsyncProducer as AsyncProducer
from ._producer import Headers as Headers
from ._registry import create_registry_client as create_registry_client
from ._schemas import event_schema as event_schema
from ._schemas import event_schema_history as event_schema_history
from ._schemas import event_subject as event_subject
from ._tracing import extract_trace_context as extract_trace_context
from ._tracing import inject_trace_headers as inject_trace_headers
from ._yaml_config import ConfigFile as ConfigFile
from ._yaml_config import kafka_config_from_section as kafka_config_from_section
from .exceptions import AkxError as AkxError
from .exceptions import BrokerUnavailableError as BrokerUnavailableError
from .exceptions import ConfigurationError as ConfigurationError
from .exceptions import EventDecodeError as EventDecodeError
from .exceptions import EventEncodeError as EventEncodeError
from .exceptions import EventError as EventError
from .exceptions import InvalidEventError as InvalidEventError
from .exceptions import KafkaTransportError as KafkaTransportError
from .exceptions import PayloadTooLargeError as PayloadTooLargeError
from .exceptions import SchemaIncompatibleError as SchemaIncompatibleError
from .exceptions import SchemaRegistryError as SchemaRegistryError
from .exceptions import UnknownSchemaError as UnknownSchemaError
from .exceptions import UnsupportedTypeError as UnsupportedTypeError

__all__ = [
    "AsyncConsumer",
    "AsyncProducer",
    "ConfigFile",
    "Headers",
    "TopicSpec",
    "ensure_topics",
    "ensure_topics_sync",
    "kafka_config_from_section",
    "EVENT_TYPES",
    "AgentRef",
    "AgentStateEvent",
    "AkxError",
    "AnyEvent",
    "BrokerUnavailableError",
    "ClientSettings",
    "ConfigurationError",
    "DataclassSerde",
    "DecodedEvent",
    "ErrorInfo",
    "EventDecodeError",
    "EventEncodeError",
    "EventError",
    "EventSerde",
    "InvalidEventError",
    "KafkaConfig",
    "KafkaTransportError",
    "MemoryAction",
    "MemoryEvent",
    "PayloadTooLargeError",
    "RecordHeaders",
    "RegistrationAction",
    "RegistrationEvent",
    "RequestEvent",
    "RequestKind",
    "ResponseEvent",
    "SaslMechanism",
    "SchemaIncompatibleError",
    "SchemaRegistryConfig",
    "SchemaRegistryError",
    "SecurityProtocol",
    "SubscriptionAction",
    "SubscriptionEvent",
    "SubscriptionKind",
    "UnknownSchemaError",
    "UnsupportedTypeError",
    "avro_schema_for",
    "create_registry_client",
    "event_schema",
    "event_schema_history",
    "event_subject",
    "extract_trace_context",
    "from_avro_record",
    "inject_trace_headers",
    "to_avro_record",
]
