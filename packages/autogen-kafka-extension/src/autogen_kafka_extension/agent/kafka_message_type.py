"""``KafkaMessageType``, the base of typed bridge request/response dataclasses."""

from akx_bridge import KafkaMessageType as KafkaMessageType

__all__ = ["KafkaMessageType"]
