"""Configuration shared by every component."""

from akx_events import KafkaConfig as KafkaConfig
from akx_events import SchemaRegistryConfig as SchemaRegistryConfig

__all__ = ["KafkaConfig", "SchemaRegistryConfig"]
