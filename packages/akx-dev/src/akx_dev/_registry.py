"""The development Schema Registry: Confluent's REST API over state kept in Kafka."""

from __future__ import annotations

import threading
import urllib.request
import warnings
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from ._registry_api import RegistryApi
from ._registry_http import RegistryHttpServer
from ._registry_store import RegistryStore
from .exceptions import RegistryStartError

__all__ = ["DevSchemaRegistry"]


class DevSchemaRegistry:
    """A Confluent-compatible Schema Registry for tests and zero-setup demos. Never production.

    It serves the subset of Confluent's REST API that confluent-kafka's
    ``SchemaRegistryClient``, ``AvroSerializer`` and ``AvroDeserializer`` use, with
    real Avro compatibility checks. Every change is written to a Kafka topic and
    acknowledged before the answer, and the state is rebuilt from that topic at
    start, so schema ids survive a registry restart for as long as the broker lives.
    Only Avro schemas without references are accepted.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.

    Args:
        bootstrap_servers: the Kafka cluster that stores the registry's state.
        port: the HTTP port; a free one when ``None``.
        host: the address to listen on.
        topic: the topic holding the state (created compacted, one partition, if missing).
        consumer_settings: extra librdkafka settings for the topic's reader.
        producer_settings: extra librdkafka settings for the topic's writer.
        start_timeout: seconds to wait for Kafka at start, and for each write.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        topic: str = "_schemas",
        consumer_settings: Mapping[str, Any] | None = None,
        producer_settings: Mapping[str, Any] | None = None,
        start_timeout: float = 10.0,
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._requested_port = port or 0
        self._host = host
        self._topic = topic
        self._consumer_settings = dict(consumer_settings or {})
        self._producer_settings = dict(producer_settings or {})
        self._timeout = start_timeout
        self._store: RegistryStore | None = None
        self._server: RegistryHttpServer | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def port(self) -> int:
        """The HTTP port the registry listens on."""
        if self._server is None:
            raise RuntimeError("the development Schema Registry is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The registry's base URL, e.g. ``http://127.0.0.1:8081``."""
        host = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host
        return f"http://{host}:{self.port}"

    def start(self) -> DevSchemaRegistry:
        """Read the state from Kafka and serve HTTP in a background thread.

        Returns once the registry answers HTTP requests.

        Raises:
            RegistryStartError: the port is taken, Kafka did not answer within
                ``start_timeout`` seconds, or the registry was stopped before.
        """
        if self._server is not None:
            return self
        if self._stopped:
            raise RegistryStartError(
                "a stopped DevSchemaRegistry cannot start again; make a new one"
            )
        self._store = RegistryStore(
            self._bootstrap_servers,
            topic=self._topic,
            consumer_settings=self._consumer_settings,
            producer_settings=self._producer_settings,
            timeout=self._timeout,
        )
        address = (self._host, self._requested_port)
        try:
            self._server = RegistryHttpServer(address, RegistryApi(self._store))
        except OSError as exc:
            raise RegistryStartError(
                f"the Schema Registry cannot listen on {self._host}:{self._requested_port}: {exc}"
            ) from exc
        try:
            self._store.open()
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="akx-registry-http",
                daemon=True,
            )
            self._thread.start()
            self._check_answers()
        except BaseException:
            self.stop()
            raise
        return self

    def _check_answers(self) -> None:
        try:
            with urllib.request.urlopen(f"{self.url}/", timeout=self._timeout) as answer:
                answer.read()
        except OSError as exc:
            raise RegistryStartError(
                f"the Schema Registry at {self.url} does not answer: {exc}"
            ) from exc

    def stop(self) -> None:
        """Stop serving, wait for the threads and close the Kafka clients. Idempotent."""
        self._stopped = True
        server, thread, store = self._server, self._thread, self._store
        self._server = self._thread = self._store = None
        if server is not None:
            if thread is not None:
                server.shutdown()  # only returns once serve_forever has run and ended
                thread.join()
            server.server_close()
        if store is not None:
            store.close()

    def __enter__(self) -> DevSchemaRegistry:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __del__(self) -> None:
        if getattr(self, "_server", None) is not None:
            warnings.warn(
                "a DevSchemaRegistry was never stopped", ResourceWarning, stacklevel=1, source=self
            )
