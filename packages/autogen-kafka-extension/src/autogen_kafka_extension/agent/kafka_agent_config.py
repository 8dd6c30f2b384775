"""``KafkaAgentConfig``."""

from akx_bridge import KafkaAgentConfig as KafkaAgentConfig

__all__ = ["KafkaAgentConfig"]
