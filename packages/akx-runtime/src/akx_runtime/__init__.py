"""akx-runtime: ``KafkaAgentRuntime``, the AutoGen ``AgentRuntime`` over Apache Kafka."""

from ._config import KafkaAgentRuntimeConfig as KafkaAgentRuntimeConfig
from ._config import RetryPolicy as RetryPolicy
from ._factory import KafkaAgentRuntimeFactory as KafkaAgentRuntimeFactory
from ._factory import load_runtime_config as load_runtime_config
from ._runtime import KafkaAgentRuntime as KafkaAgentRuntime
from ._runtime import RecipientNotFoundError as RecipientNotFoundError
from .exceptions import AgentRuntimeError as AgentRuntimeError
from .exceptions import PoisonMessageError as PoisonMessageError
from .exceptions import RemoteHandlerError as RemoteHandlerError
from .exceptions import RequestTimeoutError as RequestTimeoutError
from .exceptions import RuntimeStateError as RuntimeStateError
from .exceptions import UnserializableMessageError as UnserializableMessageError

__all__ = [
    "AgentRuntimeError",
    "KafkaAgentRuntime",
    "KafkaAgentRuntimeConfig",
    "KafkaAgentRuntimeFactory",
    "PoisonMessageError",
    "RecipientNotFoundError",
    "RemoteHandlerError",
    "RequestTimeoutError",
    "RetryPolicy",
    "RuntimeStateError",
    "UnserializableMessageError",
    "load_runtime_config",
]
