"""``KafkaMemory``."""

from akx_memory import KafkaMemory as KafkaMemory

__all__ = ["KafkaMemory"]
