"""Schema Registry clients, and the translation of their failures into akx errors."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar, cast

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry import SchemaRegistryError as _ConfluentRegistryError

from ._config import SchemaRegistryConfig
from .exceptions import SchemaIncompatibleError, SchemaRegistryError

__all__ = [
    "DEFAULT_REGISTRY_TIMEOUT",
    "NOT_FOUND",
    "create_registry_client",
    "registry_call",
    "registry_url",
]

T = TypeVar("T")

#: HTTP status of "subject, version or schema id not found".
NOT_FOUND = 404
_CONFLICT = 409
_RETRIABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})

#: Seconds one HTTP request to Schema Registry may take. confluent-kafka's client
#: passes ``timeout=None`` to httpx unless told otherwise, which means no timeout at
#: all: a registry that accepts connections but never answers (hung, or behind a
#: black-holing network) would block a caller forever. With the client's default
#: ``max.retries`` of 3, a call then ends within about 4 x 5 s plus 7 s of backoff.
#: ``SchemaRegistryConfig.extra["timeout"]`` overrides it.
DEFAULT_REGISTRY_TIMEOUT = 5.0

_mock_clients: dict[str, SchemaRegistryClient] = {}
_mock_lock = threading.Lock()


def create_registry_client(config: SchemaRegistryConfig) -> SchemaRegistryClient:
    """A client for the registry ``config`` describes.

    ``mock://<name>`` URLs give confluent-kafka's in-memory registry. Every client
    created here for the same mock URL shares one registry, as producers and
    consumers of one process would share a real one. HTTP requests time out after
    :data:`DEFAULT_REGISTRY_TIMEOUT` seconds unless ``extra`` sets ``timeout``.
    """
    if not config.url.startswith("mock://"):
        conf = config.client_config()
        conf.setdefault("timeout", DEFAULT_REGISTRY_TIMEOUT)
        return SchemaRegistryClient(conf)
    with _mock_lock:
        client = _mock_clients.get(config.url)
        if client is None:
            new_client = cast(
                "Callable[[dict[str, Any]], SchemaRegistryClient]",
                cast(Any, SchemaRegistryClient).new_client,
            )
            client = new_client(config.client_config())
            _mock_clients[config.url] = client
        return client


def registry_url(client: SchemaRegistryClient) -> str:
    """The URL a client talks to, for error messages (credentials are never part of it)."""
    conf = cast("dict[str, Any]", client.config())
    # basic.auth may also be given as user:password@host in the URL: drop it.
    text = str(conf.get("url", "?"))
    scheme, sep, rest = text.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        rest = rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"


def registry_call(
    url: str,
    action: str,
    call: Callable[[], T],
    *,
    not_found: Callable[[], T] | None = None,
) -> T:
    """Run one Schema Registry request and translate its failures.

    Args:
        url: the registry URL, named in error messages.
        action: what was attempted, e.g. ``register subject io.akx.events.RequestEvent``.
        call: the request.
        not_found: result to use when the registry answers 404; without it a 404 is
            an error like any other.

    Raises:
        SchemaIncompatibleError: the registry answered 409 (incompatible schema).
        SchemaRegistryError: any other error answer, or the registry could not be
            reached (``retriable`` is set for timeouts, 5xx and connection failures).
    """
    try:
        return call()
    except _ConfluentRegistryError as exc:
        status = int(exc.http_status_code)
        if status == NOT_FOUND and not_found is not None:
            return not_found()
        _raise_answer(url, action, exc, status)
    except Exception as exc:
        # The HTTP layer (httpx and its variants) raises its own connection errors:
        # anything that is not an answer from the registry means we could not reach it.
        raise SchemaRegistryError(
            f"{action}: Schema Registry at {url} is unreachable ({type(exc).__name__}: {exc})",
            retriable=True,
        ) from exc


def _raise_answer(url: str, action: str, exc: _ConfluentRegistryError, status: int) -> NoReturn:
    detail = f"{exc.error_message} (HTTP {status}, error code {exc.error_code})"
    if status == _CONFLICT:
        raise SchemaIncompatibleError(
            f"{action}: Schema Registry at {url} rejected the schema as incompatible "
            f"with the registered versions: {detail}"
        ) from exc
    raise SchemaRegistryError(
        f"{action}: Schema Registry at {url} answered {detail}",
        retriable=status in _RETRIABLE_STATUS,
    ) from exc
