"""``KafkaConfig`` and ``SchemaRegistryConfig``."""

from akx_events import KafkaConfig as KafkaConfig
from akx_events import SchemaRegistryConfig as SchemaRegistryConfig

__all__ = ["KafkaConfig", "SchemaRegistryConfig"]
