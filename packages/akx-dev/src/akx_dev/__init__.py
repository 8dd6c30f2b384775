"""Embedded development stack for akx: broker, Schema Registry and pytest fixtures.

For tests and zero-setup demos only, never production.
"""

from ._broker import EmbeddedBroker as EmbeddedBroker
from ._broker import free_port as free_port
from ._settings import EMBEDDED_CONSUMER_SETTINGS as EMBEDDED_CONSUMER_SETTINGS
from ._settings import EMBEDDED_PRODUCER_SETTINGS as EMBEDDED_PRODUCER_SETTINGS
from .exceptions import AkxDevError as AkxDevError
from .exceptions import BrokerStartError as BrokerStartError
from .exceptions import RegistryStartError as RegistryStartError

__all__ = [
    "EMBEDDED_CONSUMER_SETTINGS",
    "EMBEDDED_PRODUCER_SETTINGS",
    "AkxDevError",
    "BrokerStartError",
    "EmbeddedBroker",
    "RegistryStartError",
    "free_port",
]
