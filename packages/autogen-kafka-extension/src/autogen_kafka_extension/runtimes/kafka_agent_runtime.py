"""``KafkaAgentRuntime`` (its logger is named after this module)."""

from akx_runtime import KafkaAgentRuntime as KafkaAgentRuntime

__all__ = ["KafkaAgentRuntime"]
