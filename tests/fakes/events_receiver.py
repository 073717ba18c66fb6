"""A control plane's events endpoint on 127.0.0.1: verifies every POST's signature with the tenant's key the way a
receiver must (HMAC-SHA256 over `ts + "." + raw body`, constant-time compare, timestamps older than 300 s refused),
records what it accepted, and fails as scripted (an outage)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE_SEC = 300


def verify(key: str, timestamp: str | None, signature: str | None, raw: bytes, now: float | None = None) -> bool:
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    if abs((now if now is not None else time.time()) - int(timestamp)) > TOLERANCE_SEC:
        return False
    expected = hmac.new(key.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


class EventsReceiver:
    """`keys`: tenant id → tenant key (what the control plane knows). `events`: accepted events, in arrival order;
    `rejected`: (reason, headers) of refused POSTs; `attempts`: every POST's event id. `fail_next(n, status)`
    answers the next n POSTs with `status` (an outage), before checking anything."""

    def __init__(self, keys: dict[str, str] | None = None) -> None:
        self.keys: dict[str, str] = dict(keys or {})
        self.events: list[dict[str, Any]] = []
        self.raw: list[tuple[dict[str, str], bytes]] = []  # headers (as sent) and body of every accepted POST
        self.rejected: list[tuple[str, dict[str, str]]] = []
        self.attempts: list[str] = []
        self._failures: list[int] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = fake._answer(dict(self.headers.items()), raw)
                body = b'{"ok":true}' if status < 300 else b'{"ok":false}'
                self.wfile.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                    .encode() + body
                )

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/mux-events"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def fail_next(self, n: int, status: int = 503) -> None:
        with self._lock:
            self._failures.extend([status] * n)

    def _answer(self, sent: dict[str, str], raw: bytes) -> int:
        headers = {k.lower(): v for k, v in sent.items()}
        with self._lock:
            self.attempts.append(headers.get("x-mux-event-id", ""))
            if self._failures:
                return self._failures.pop(0)
        try:
            event = json.loads(raw)
            key = self.keys[event["tenantId"]]
        except (ValueError, KeyError, TypeError):
            with self._lock:
                self.rejected.append(("unknown tenant or not JSON", headers))
            return 400
        if not verify(key, headers.get("x-mux-timestamp"), headers.get("x-mux-signature"), raw):
            with self._lock:
                self.rejected.append(("bad signature", headers))
            return 401
        named = (headers.get("x-mux-event-id"), headers.get("x-mux-event-type"))
        if named != (event.get("eventId"), event.get("type")):
            with self._lock:
                self.rejected.append(("headers do not match the body", headers))
            return 400
        with self._lock:
            self.events.append(event)
            self.raw.append((sent, raw))
        return 200

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e["type"] == kind]

    def __enter__(self) -> EventsReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
