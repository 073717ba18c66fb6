"""A small fake Graph API on loopback for the WhatsApp inbound side: media lookup, media bytes, a recording
messages endpoint. Answers as the Cloud API does (fixtures in tests/fixtures/whatsapp), and checks the bearer.

Usage::

    with FakeGraph(token="wa-token") as graph:
        graph.media["1183746529304857"] = (b"...jpeg...", "image/jpeg")
        ...
        assert graph.sent[0]["text"]["body"] == "Paired successfully. You can chat now."
        assert graph.sent_from == ["318765432109876"]     # the phone number id of each send
"""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


class FakeGraph:
    def __init__(self, token: str) -> None:
        self.token = token
        self.media: dict[str, tuple[bytes, str]] = {}
        self.numbers: dict[str, str] = {}  # phone number id → display_phone_number, as Meta formats it
        self.sent: list[dict[str, Any]] = []
        self.sent_from: list[str] = []
        self.media_fetches: list[str] = []
        self.unauthorised = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, data: Any) -> None:
                self._answer(status, json.dumps(data).encode("utf-8"))

            def _authorised(self) -> bool:
                if self.headers.get("Authorization") == f"Bearer {fake.token}":
                    return True
                with fake._lock:
                    fake.unauthorised += 1
                self._json(401, {"error": {"message": "Invalid OAuth access token.", "type": "OAuthException",
                                           "code": 190}})
                return False

            def do_GET(self) -> None:  # noqa: N802
                if not self._authorised():
                    return
                url = urlparse(self.path)
                if url.path == "/download":
                    media_id = parse_qs(url.query).get("mid", [""])[0]
                    with fake._lock:
                        fake.media_fetches.append(media_id)
                    found = fake.media.get(media_id)
                    if found is None:
                        self._json(404, {"error": {"message": "not found", "code": 100}})
                    else:
                        self._answer(200, found[0], found[1])
                    return
                media_id = url.path.strip("/").rsplit("/", 1)[-1]
                if media_id in fake.numbers:
                    self._json(200, {"display_phone_number": fake.numbers[media_id], "id": media_id})
                    return
                found = fake.media.get(media_id)
                if found is None:
                    self._json(400, {"error": {"message": "Unsupported get request.", "type": "GraphMethodException",
                                               "code": 100}})
                    return
                host = f"http://127.0.0.1:{fake.port}"
                self._json(200, {"messaging_product": "whatsapp", "url": f"{host}/download?mid={media_id}",
                                 "mime_type": found[1], "file_size": str(len(found[0])), "id": media_id})

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not self._authorised():
                    return
                parts = urlparse(self.path).path.strip("/").split("/")
                if len(parts) < 2 or parts[-1] != "messages":
                    self._json(404, {"error": {"message": "Unknown path", "code": 100}})
                    return
                body = json.loads(raw)
                with fake._lock:
                    fake.sent.append(body)
                    fake.sent_from.append(parts[-2])
                    wamid = f"wamid.fake{next(fake._ids)}"
                who = body.get("to") or body.get("recipient")
                self._json(200, {"messaging_product": "whatsapp", "contacts": [{"input": who}],
                                 "messages": [{"id": wamid}]})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v23.0"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def texts_to(self, who: str) -> list[str]:
        return [b["text"]["body"] for b in self.sent
                if b.get("type") == "text" and who in (b.get("to"), b.get("recipient"))]

    def __enter__(self) -> FakeGraph:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
