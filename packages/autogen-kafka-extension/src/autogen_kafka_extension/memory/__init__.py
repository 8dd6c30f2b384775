"""Distributed memory: ``KafkaMemory`` and ``KafkaMemoryConfig``."""

from akx_memory import KafkaMemory as KafkaMemory
from akx_memory import KafkaMemoryConfig as KafkaMemoryConfig

__all__ = ["KafkaMemory", "KafkaMemoryConfig"]
