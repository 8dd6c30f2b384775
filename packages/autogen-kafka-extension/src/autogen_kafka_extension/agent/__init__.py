"""Streaming (bridge) agents: ``KafkaStreamingAgent`` and its configuration."""

from akx_bridge import KafkaAgentConfig as KafkaAgentConfig
from akx_bridge import KafkaMessageType as KafkaMessageType
from akx_bridge import KafkaStreamingAgent as KafkaStreamingAgent

__all__ = ["KafkaAgentConfig", "KafkaMessageType", "KafkaStreamingAgent"]
