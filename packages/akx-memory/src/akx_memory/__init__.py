"""akx-memory: an AutoGen ``Memory`` replicated through a Kafka topic.

``KafkaMemory`` instances with the same session id, in any process, converge to the
same contents; a new instance recovers them by replaying the topic. Queries rank the
entries with BM25 (or any :class:`MemoryScorer`).
"""

from ._codec import EncodedContent as EncodedContent
from ._codec import decode_content as decode_content
from ._codec import encode_content as encode_content
from ._config import KafkaMemoryConfig as KafkaMemoryConfig
from ._config import load_memory_config as load_memory_config
from ._lag import ReplicationLag as ReplicationLag
from ._memory import KafkaMemory as KafkaMemory
from ._memory import KafkaMemoryQueryResult as KafkaMemoryQueryResult
from ._scoring import BM25Scorer as BM25Scorer
from ._scoring import MemoryScorer as MemoryScorer
from ._scoring import searchable_text as searchable_text
from .exceptions import KafkaMemoryError as KafkaMemoryError
from .exceptions import MemoryEntryNotFoundError as MemoryEntryNotFoundError
from .exceptions import MemoryStateError as MemoryStateError
from .exceptions import ReplayTimeoutError as ReplayTimeoutError
from .exceptions import UnsupportedContentError as UnsupportedContentError

__all__ = [
    "BM25Scorer",
    "EncodedContent",
    "KafkaMemory",
    "KafkaMemoryConfig",
    "KafkaMemoryError",
    "KafkaMemoryQueryResult",
    "MemoryEntryNotFoundError",
    "MemoryScorer",
    "MemoryStateError",
    "ReplayTimeoutError",
    "ReplicationLag",
    "UnsupportedContentError",
    "decode_content",
    "encode_content",
    "load_memory_config",
    "searchable_text",
]
