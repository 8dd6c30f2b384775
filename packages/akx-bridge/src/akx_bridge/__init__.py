"""akx-bridge: AutoGen agents that call external services over Kafka, and those services.

``KafkaStreamingAgent`` is an ordinary AutoGen agent whose handler lives behind a
pair of Kafka topics: it sends each typed request as an Avro record and returns the
typed reply. ``RequestProcessor`` / ``serve`` run an async function as such an
external handler. The record contract between the two is in the package README.
"""

from ._agent import KafkaStreamingAgent as KafkaStreamingAgent
from ._config import KafkaAgentConfig as KafkaAgentConfig
from ._config import RequestProcessorConfig as RequestProcessorConfig
from ._config import load_agent_config as load_agent_config
from ._contract import AVRO_CONTENT_TYPE as AVRO_CONTENT_TYPE
from ._contract import CONTENT_TYPE_HEADER as CONTENT_TYPE_HEADER
from ._contract import CORRELATION_ID_HEADER as CORRELATION_ID_HEADER
from ._contract import DLQ_ERROR_MESSAGE_HEADER as DLQ_ERROR_MESSAGE_HEADER
from ._contract import DLQ_ERROR_TYPE_HEADER as DLQ_ERROR_TYPE_HEADER
from ._contract import DLQ_SOURCE_OFFSET_HEADER as DLQ_SOURCE_OFFSET_HEADER
from ._contract import DLQ_SOURCE_PARTITION_HEADER as DLQ_SOURCE_PARTITION_HEADER
from ._contract import DLQ_SOURCE_TOPIC_HEADER as DLQ_SOURCE_TOPIC_HEADER
from ._contract import ERROR_MESSAGE_HEADER as ERROR_MESSAGE_HEADER
from ._contract import ERROR_TYPE_HEADER as ERROR_TYPE_HEADER
from ._contract import REPLY_TO_HEADER as REPLY_TO_HEADER
from ._handler import Handler as Handler
from ._message_type import KafkaMessageType as KafkaMessageType
from ._pending import BridgeStats as BridgeStats
from ._processor import ProcessorStats as ProcessorStats
from ._processor import RequestProcessor as RequestProcessor
from ._processor import serve as serve
from .exceptions import BridgeClosedError as BridgeClosedError
from .exceptions import BridgeError as BridgeError
from .exceptions import BridgeTimeoutError as BridgeTimeoutError
from .exceptions import MalformedReplyError as MalformedReplyError
from .exceptions import RemoteHandlerError as RemoteHandlerError

__all__ = [
    "AVRO_CONTENT_TYPE",
    "BridgeClosedError",
    "BridgeError",
    "BridgeStats",
    "BridgeTimeoutError",
    "CONTENT_TYPE_HEADER",
    "CORRELATION_ID_HEADER",
    "DLQ_ERROR_MESSAGE_HEADER",
    "DLQ_ERROR_TYPE_HEADER",
    "DLQ_SOURCE_OFFSET_HEADER",
    "DLQ_SOURCE_PARTITION_HEADER",
    "DLQ_SOURCE_TOPIC_HEADER",
    "ERROR_MESSAGE_HEADER",
    "ERROR_TYPE_HEADER",
    "Handler",
    "KafkaAgentConfig",
    "KafkaMessageType",
    "KafkaStreamingAgent",
    "MalformedReplyError",
    "ProcessorStats",
    "REPLY_TO_HEADER",
    "RemoteHandlerError",
    "RequestProcessor",
    "RequestProcessorConfig",
    "load_agent_config",
    "serve",
]
