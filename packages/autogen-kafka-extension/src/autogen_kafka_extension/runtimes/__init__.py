"""Agent runtimes: ``KafkaAgentRuntime`` and its configuration and factory."""

from akx_runtime import KafkaAgentRuntime as KafkaAgentRuntime
from akx_runtime import KafkaAgentRuntimeConfig as KafkaAgentRuntimeConfig
from akx_runtime import KafkaAgentRuntimeFactory as KafkaAgentRuntimeFactory

__all__ = ["KafkaAgentRuntime", "KafkaAgentRuntimeConfig", "KafkaAgentRuntimeFactory"]
