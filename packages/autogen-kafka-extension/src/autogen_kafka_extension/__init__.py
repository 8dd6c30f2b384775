"""autogen-kafka-extension: distributed Microsoft AutoGen agents over Apache Kafka.

This meta-package re-exports the public names of ``akx-events``, ``akx-runtime``,
``akx-bridge`` and ``akx-memory`` under the import paths users of the original
extension already have.
"""

from akx_bridge import KafkaAgentConfig as KafkaAgentConfig
from akx_bridge import KafkaMessageType as KafkaMessageType
from akx_bridge import KafkaStreamingAgent as KafkaStreamingAgent
from akx_bridge import RequestProcessor as RequestProcessor
from akx_bridge import serve as serve
from akx_events import AkxError as AkxError
from akx_events import ConfigurationError as ConfigurationError
from akx_events import KafkaConfig as KafkaConfig
from akx_events import SaslMechanism as SaslMechanism
from akx_events import SchemaRegistryConfig as SchemaRegistryConfig
from akx_events import SecurityProtocol as SecurityProtocol
from akx_memory import KafkaMemory as KafkaMemory
from akx_memory import KafkaMemoryConfig as KafkaMemoryConfig
from akx_runtime import KafkaAgentRuntime as KafkaAgentRuntime
from akx_runtime import KafkaAgentRuntimeConfig as KafkaAgentRuntimeConfig
from akx_runtime import KafkaAgentRuntimeFactory as KafkaAgentRuntimeFactory
from akx_runtime import RetryPolicy as RetryPolicy

__all__ = [
    "AkxError",
    "ConfigurationError",
    "KafkaAgentConfig",
    "KafkaAgentRuntime",
    "KafkaAgentRuntimeConfig",
    "KafkaAgentRuntimeFactory",
    "KafkaConfig",
    "KafkaMemory",
    "KafkaMemoryConfig",
    "KafkaMessageType",
    "KafkaStreamingAgent",
    "RequestProcessor",
    "RetryPolicy",
    "SaslMechanism",
    "SchemaRegistryConfig",
    "SecurityProtocol",
    "serve",
]
