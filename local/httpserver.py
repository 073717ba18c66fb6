"""The local HTTP server: Chalice's request handler on a threaded server hardened for what clients really send.

Differences from `chalice.local`'s defaults, each for a reproduced problem:
* a listen backlog of 1,024 (the standard library's 5 refused a burst of 50 new clients) and SO_REUSEADDR;
* TCP_NODELAY and one write per response (headers and body separately made Nagle's algorithm and the
  peer's delayed ACK add ~40 ms to every request on loopback);
* a request whose body cannot be framed (an unsupported method such as TRACE with a body, chunked
  transfer encoding, a bad Content-Length) gets a JSON error and the connection is closed, so the body is
  never parsed as the next request on a kept-open connection;
* Chalice's own error answers (405 unsupported method, 415 unsupported media type, 400 Accept mismatch)
  get the contract's body `{"ok": false, "error", "code"}` (a middleware, `install_contract_errors`).
"""

from __future__ import annotations

import functools
import json
import logging
import socket
from typing import Any

log = logging.getLogger("local")

LISTEN_BACKLOG = 1024
# Large enough that headers and a typical body leave in one send(); bigger bodies take two.
WRITE_BUFFER_BYTES = 64 * 1024
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
CHALICE_ERROR_CODES = {
    "MethodNotAllowedError": ("METHOD_NOT_ALLOWED", "Method {method} is not allowed on this path."),
    "UnsupportedMediaType": ("UNSUPPORTED_MEDIA_TYPE", "Content type {content_type} is not accepted here."),
    "BadRequest": ("INVALID_REQUEST", "The Accept header does not allow the response's content type."),
}


def error_body(message: str, code: str) -> bytes:
    return json.dumps({"ok": False, "error": message, "code": code}).encode()


def install_contract_errors(app: Any) -> None:
    """Give Chalice's own error responses (`{"Code", "Message"}`) the contract's error body."""
    from chalice.app import Response

    def contract_errors(event: Any, get_response: Any) -> Any:
        response = get_response(event)
        body = response.body
        if (
            response.status_code >= 400
            and isinstance(body, dict)
            and set(body) == {"Code", "Message"}
            and body["Code"] in CHALICE_ERROR_CODES
        ):
            code, template = CHALICE_ERROR_CODES[body["Code"]]
            content_type = (event.headers or {}).get("content-type", "")
            message = template.format(method=event.method, content_type=content_type[:100] or "(none)")
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
            return Response(
                body=error_body(message, code).decode(),
                status_code=response.status_code,
                headers={**headers, "Content-Type": JSON_CONTENT_TYPE},
            )
        return response

    app.register_middleware(contract_errors, "http")


def _handler_class() -> type:
    from chalice.local import ChaliceRequestHandler

    class LocalRequestHandler(ChaliceRequestHandler):
        """Access log without query strings (they may carry verification tokens); framing errors closed."""

        wbufsize = WRITE_BUFFER_BYTES

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            path = str(getattr(self, "path", "")).split("?", 1)[0]
            log.info("%s %s -> %s", getattr(self, "command", "?"), path, code)

        def _generic_handle(self) -> None:
            if self.headers.get("Transfer-Encoding"):
                self._refuse(411, "Chunked request bodies are not supported; send Content-Length.", "LENGTH_REQUIRED")
                return
            raw = self.headers.get("Content-Length", "0")
            if not raw.strip().isdigit():
                self._refuse(400, "The Content-Length header is not a number.", "INVALID_REQUEST")
                return
            super()._generic_handle()

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            if code == 501:
                # An HTTP method the server has no handler for (TRACE, QUERY, …).
                self._refuse(405, f"Method {self.command} is not supported.", "METHOD_NOT_ALLOWED")
                return
            super().send_error(code, message, explain)

        def _refuse(self, status: int, message: str, code: str) -> None:
            """Answer with the contract's error body and close: the request's body (if any) is left unread."""
            body = error_body(message, code)
            self.close_connection = True
            self.send_response(status)
            self.send_header("Content-Type", JSON_CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return LocalRequestHandler


def _server_class() -> type:
    from chalice.local import ThreadedHTTPServer

    class LocalHTTPServer(ThreadedHTTPServer):
        request_queue_size = LISTEN_BACKLOG
        allow_reuse_address = True
        daemon_threads = True

    return LocalHTTPServer


def create_server(app: Any, config: Any, host: str, port: int) -> Any:
    """The app on `host:port`, bound and listening but not serving yet (call `serve_forever`)."""
    from chalice.local import CustomLocalChalice, LocalChalice

    from local.gateway import install_greedy_routes

    install_greedy_routes()
    if not isinstance(app, LocalChalice):
        # What chalice.local.create_local_server does: a thread-local `current_request`.
        CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
        app.__class__ = CustomLocalChalice
    handler = functools.partial(_handler_class(), app_object=app, config=config)
    return _server_class()((host, port), handler)
