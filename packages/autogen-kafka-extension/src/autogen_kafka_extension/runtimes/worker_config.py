"""``KafkaAgentRuntimeConfig`` (the original extension called it the worker config)."""

from akx_runtime import KafkaAgentRuntimeConfig as KafkaAgentRuntimeConfig

__all__ = ["KafkaAgentRuntimeConfig"]
