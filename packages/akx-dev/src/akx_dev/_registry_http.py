"""The development Schema Registry's HTTP server (stdlib ``http.server``)."""

from __future__ import annotations

import json
import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from ._registry_api import ApiError, RegistryApi

__all__ = ["RegistryHttpServer"]

_log = logging.getLogger("akx_dev.registry")
_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class _RequestHandler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection. Keep-alive connections would outlive
    # stop() in their handler threads and could answer from a stopped registry.
    protocol_version = "HTTP/1.0"
    server_version = "akx-dev-schema-registry"

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def do_DELETE(self) -> None:
        self._answer()

    def _answer(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        status, payload = 200, None
        try:
            payload = cast("RegistryHttpServer", self.server).api.dispatch(
                self.command, url.path, parse_qs(url.query), body
            )
        except ApiError as exc:
            status, payload = exc.status, {"error_code": exc.code, "message": exc.message}
        except Exception as exc:  # an answer is better than a dropped connection
            _log.exception("Schema Registry request %s %s failed", self.command, self.path)
            status, payload = 500, {"error_code": 50001, "message": f"Internal error: {exc}"}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", _CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("Schema Registry: " + format, *args)


class RegistryHttpServer(ThreadingHTTPServer):
    """A threading HTTP server answering the Schema Registry API through a :class:`RegistryApi`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], api: RegistryApi) -> None:
        super().__init__(address, _RequestHandler)
        self.api = api

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback to stderr, e.g. when a client hangs up early.
        _log.debug("Schema Registry connection from %s failed", client_address, exc_info=True)
