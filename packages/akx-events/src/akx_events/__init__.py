"""akx-events: the wire contract of akx.

Kafka and Schema Registry configuration, CloudEvents envelopes with Avro bodies,
Schema Registry serdes and the error hierarchy shared by every akx package.
"""

from ._config import ClientSettings as ClientSettings
from ._config import KafkaConfig as KafkaConfig
from ._config import SaslMechanism as SaslMechanism
from ._config import SchemaRegistryConfig as SchemaRegistryConfig
from ._config import SecurityProtocol as SecurityProtocol
from .exceptions import AkxError as AkxError
from .exceptions import BrokerUnavailableError as BrokerUnavailableError
from .exceptions import ConfigurationError as ConfigurationError
from .exceptions import EventDecodeError as EventDecodeError
from .exceptions import EventEncodeError as EventEncodeError
from .exceptions import EventError as EventError
from .exceptions import KafkaTransportError as KafkaTransportError
from .exceptions import PayloadTooLargeError as PayloadTooLargeError
from .exceptions import SchemaIncompatibleError as SchemaIncompatibleError
from .exceptions import SchemaRegistryError as SchemaRegistryError

__all__ = [
    "AkxError",
    "BrokerUnavailableError",
    "ClientSettings",
    "ConfigurationError",
    "EventDecodeError",
    "EventEncodeError",
    "EventError",
    "KafkaConfig",
    "KafkaTransportError",
    "PayloadTooLargeError",
    "SaslMechanism",
    "SchemaIncompatibleError",
    "SchemaRegistryConfig",
    "SchemaRegistryError",
    "SecurityProtocol",
]
