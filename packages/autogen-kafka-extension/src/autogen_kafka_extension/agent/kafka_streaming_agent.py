"""``KafkaStreamingAgent``."""

from akx_bridge import KafkaStreamingAgent as KafkaStreamingAgent

__all__ = ["KafkaStreamingAgent"]
