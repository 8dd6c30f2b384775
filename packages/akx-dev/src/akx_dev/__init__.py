"""Embedded development stack for akx: broker, Schema Registry and pytest fixtures.

For tests and zero-setup demos only, never production.
"""

from ._broker import EmbeddedBroker as EmbeddedBroker
from ._broker import free_port as free_port
from ._processes import ScriptProcess as ScriptProcess
from ._reading import read_records as read_records
from ._registry import DevSchemaRegistry as DevSchemaRegistry
from ._settings import EMBEDDED_CONSUMER_SETTINGS as EMBEDDED_CONSUMER_SETTINGS
from ._settings import EMBEDDED_PRODUCER_SETTINGS as EMBEDDED_PRODUCER_SETTINGS
from ._stack import BOOTSTRAP_ENV as BOOTSTRAP_ENV
from ._stack import REGISTRY_ENV as REGISTRY_ENV
from ._stack import KafkaStack as KafkaStack
from ._stack import embedded_stack as embedded_stack
from ._stack import open_stack as open_stack
from .exceptions import AkxDevError as AkxDevError
from .exceptions import BrokerStartError as BrokerStartError
from .exceptions import RegistryStartError as RegistryStartError

__all__ = [
    "BOOTSTRAP_ENV",
    "REGISTRY_ENV",
    "EMBEDDED_CONSUMER_SETTINGS",
    "EMBEDDED_PRODUCER_SETTINGS",
    "AkxDevError",
    "BrokerStartError",
    "DevSchemaRegistry",
    "EmbeddedBroker",
    "KafkaStack",
    "RegistryStartError",
    "ScriptProcess",
    "embedded_stack",
    "free_port",
    "open_stack",
    "read_records",
]
