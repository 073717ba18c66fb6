"""Discord attachments end to end in-process: a relayed message with files → inline base64 up to the cap and the
file-proxy `url`; GET /v1/mux/files/discord?id= re-reads the message for a fresh CDN URL and serves the bytes to
the bound tenant only. A small Discord stand-in on loopback plays the REST API and its CDN (same host, as the
mux only fetches from Discord's CDN hosts or the configured API's host)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import pytest

from tests.discord_support import gateway_message, post_gateway
from tests.fakes.discord_server import BOT_TOKEN, PUBLIC_KEY, RELAY_SECRET
from tests.fakes.openclaw_server import FakeOpenClaw
from tests.inbound_support import drain

IMAGE = b"\x89PNG\r\n\x1a\nfake-png-bytes" * 50
CHANNEL = "1174109843095683076"


class _CdnAndApi:
    """GET /channels/{c}/messages/{m} names each file's current URL (`?fresh=1`), GET /cdn/<name> serves it,
    POST /channels/{c}/messages accepts notices; every request path is recorded."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.files: dict[str, tuple[bytes, str]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                outer.paths.append(self.path)
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[0] == "cdn" and parts[1] in outer.files:
                    data, kind = outer.files[parts[1]]
                    return self._answer(200, data, kind)
                if len(parts) == 4 and parts[0] == "channels" and parts[3] in outer.messages:
                    body = {"id": parts[3], "attachments": outer.messages[parts[3]]}
                    return self._answer(200, json.dumps(body).encode())
                return self._answer(404, b'{"message": "Unknown", "code": 10008}')

            def do_POST(self) -> None:  # noqa: N802
                outer.paths.append(self.path)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                return self._answer(200, b'{"id": "1516365085147267084"}')

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def cdn(configure: Callable[..., None]) -> Iterator[_CdnAndApi]:
    fake = _CdnAndApi()
    fake.files["cat.png"] = (IMAGE, "image/png")
    configure(DISCORD_BOT_TOKEN=BOT_TOKEN, DISCORD_PUBLIC_KEY=PUBLIC_KEY, MUX_DISCORD_RELAY_SECRET=RELAY_SECRET,
              MUX_DISCORD_API_BASE_URL=fake.url, MUX_INBOUND_MEDIA_MAX_BYTES="5000")
    yield fake
    fake.close()


def test_attachments_inline_up_to_the_cap_and_the_file_proxy_serves_the_bound_tenant(
    client: Any, sqs_event: Any, cdn: _CdnAndApi, make_tenant: Any
) -> None:
    with FakeOpenClaw() as openclaw:
        _, key = make_tenant("acme", inbound_url=openclaw.url)
        _, other = make_tenant("other", inbound_url=openclaw.url)
        openclaw.rules.token = key
        token = json.loads(client.http.post("/v1/pairings/token", body=json.dumps({"channel": "discord"}), headers={
            "Authorization": f"Bearer {key}", "Content-Type": "application/json"}).body)["token"]
        post_gateway(client, gateway_message(token, guild=True, channel_type=0))
        drain(sqs_event)
        small = {"id": "1516365300000000001", "filename": "cat.png", "size": len(IMAGE), "content_type": "image/png",
                 "url": f"{cdn.url}/cdn/cat.png?ex=old"}
        big = {"id": "1516365300000000002", "filename": "report.pdf", "size": 2_000_000,
               "content_type": "application/pdf", "url": f"{cdn.url}/cdn/report.pdf"}
        elsewhere = {"id": "1516365300000000003", "filename": "x.png", "size": 10, "content_type": "image/png",
                     "url": "http://127.0.0.1:9/cdn/x.png"}  # not Discord's: never fetched
        body = gateway_message("", guild=True, channel_type=0, attachments=[small, big, elsewhere])
        message_id = body["d"]["id"]
        cdn.messages[message_id] = [{**small, "url": f"{cdn.url}/cdn/cat.png?fresh=1"}]
        post_gateway(client, body)
        drain(sqs_event)

        [envelope] = openclaw.received
        image, pdf, other_file = envelope["attachments"]
        assert base64.b64decode(image["content"]) == IMAGE and image["mimeType"] == "image/png"
        file_id = f"{CHANNEL}:{message_id}:{small['id']}"
        assert image["url"].endswith("/v1/mux/files/discord?id=" + quote(file_id, safe=""))
        assert "content" not in pdf and "content" not in other_file and pdf["size"] == 2_000_000
        assert envelope["body"] == "[document: report.pdf, 2.0 MB] [image: x.png, 10 B]"
        assert [p for p in cdn.paths if p.startswith("/cdn/")] == ["/cdn/cat.png?ex=old"]  # the PDF: over the cap

        got = client.http.get(f"/v1/mux/files/discord?id={quote(file_id, safe='')}",
                              headers={"Authorization": f"Bearer {key}", "Accept": "*/*"})
        assert got.status_code == 200 and got.body == IMAGE and got.headers["Content-Type"] == "image/png"
        assert cdn.paths[-2:] == [f"/channels/{CHANNEL}/messages/{message_id}", "/cdn/cat.png?fresh=1"]
        refused = client.http.get(f"/v1/mux/files/discord?id={quote(file_id, safe='')}",
                                  headers={"Authorization": f"Bearer {other}", "Accept": "*/*"})
        assert refused.status_code == 404
