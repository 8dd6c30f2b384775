"""``KafkaMemoryConfig``."""

from akx_memory import KafkaMemoryConfig as KafkaMemoryConfig

__all__ = ["KafkaMemoryConfig"]
