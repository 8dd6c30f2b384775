"""Errors raised by the akx development stack.

```
AkxDevError
├── BrokerStartError
└── RegistryStartError
```
"""

from __future__ import annotations

__all__ = ["AkxDevError", "BrokerStartError", "RegistryStartError"]


class AkxDevError(Exception):
    """Root of the errors raised by akx-dev."""


class BrokerStartError(AkxDevError):
    """Raised when the embedded broker cannot be started or does not answer."""


class RegistryStartError(AkxDevError):
    """Raised when the development Schema Registry cannot be started."""
