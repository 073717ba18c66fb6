"""muxctl's WhatsApp commands without a mux: signed webhook payloads shaped like Meta's, the verification
handshake, the Cloud API stand-in (`dev whatsapp`) applying Meta's rules, and `pair whatsapp`'s wa.me link."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from muxctl.devservers import InboundReceiver
from muxctl.whatsapp import build_payload, encode, signature, wa_me_link
from muxctl.whatsapp_graph import FakeGraph
from tests.localstack import ROOT, free_port, wait_until
from tests.muxctl.support import run, run_json

FIXTURES = ROOT / "tests" / "fixtures" / "whatsapp"
WA_ENV: dict[str, str | None] = {name: None for name in (
    "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_PHONE_NUMBER_ID", "MUX_WHATSAPP_API_BASE_URL",
    "MUX_WHATSAPP_DISPLAY_NUMBER")}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return type(value).__name__


@pytest.fixture
def stub() -> Iterator[Callable[[Callable[[str, str, bytes], tuple[int, str, bytes]]], str]]:
    """`stub(answer)` → URL of a loopback server answering every request with answer(method, path, body)."""
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Callable[[str, str, bytes], tuple[int, str, bytes]]) -> str:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return None

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, content_type, payload = answer(self.command, self.path, self.rfile.read(length))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve  # noqa: N815

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def verifier(token: str, *, strict: bool = True) -> Callable[[str, str, bytes], tuple[int, str, bytes]]:
    """The mux's GET /v1/webhooks/whatsapp as CONTRACT §3.4 says (strict=False: a mux that checks nothing)."""

    def answer(method: str, path: str, _body: bytes) -> tuple[int, str, bytes]:
        query = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
        if urlsplit(path).path != "/v1/webhooks/whatsapp" or method != "GET":
            return 404, "application/json", b"{}"
        if query.get("hub.mode") == "subscribe" and (query.get("hub.verify_token") == token or not strict):
            return 200, "text/plain", query.get("hub.challenge", "").encode()
        return 403, "application/json", b'{"ok":false,"code":"FORBIDDEN","error":"wrong verify token"}'

    return answer


# --- payloads and signatures ----------------------------------------------------------------------
def test_signature_matches_metas_fixture_and_detects_tampering() -> None:
    for name in ("signed_request.json", "signed_request_unicode.json", "signed_request_unicode_escaped.json"):
        signed = fixture(name)
        assert signature(signed["app_secret"], signed["raw_body"].encode("utf-8")) == \
            signed["headers"]["X-Hub-Signature-256"], name
    tampered = fixture("signed_request_tampered.json")
    assert signature(tampered["app_secret"], tampered["raw_body"].encode()) != \
        tampered["headers"]["X-Hub-Signature-256"]


def test_payloads_have_the_shape_meta_sends() -> None:
    phone = build_payload("Can you summarise the report I sent yesterday?", sender="447700900123",
                          bsuid="GB.20481731954472930617", name="Dana Whitfield", timestamp=1781600000)
    assert shape(phone) == shape(fixture("text.json"))
    bsuid = build_payload("hi, is this the assistant?", sender="US.58203317440219867531")
    message = bsuid["entry"][0]["changes"][0]["value"]["messages"][0]
    contact = bsuid["entry"][0]["changes"][0]["value"]["contacts"][0]
    assert "from" not in message and message["from_user_id"] == "US.58203317440219867531"
    assert "wa_id" not in contact and contact["user_id"] == "US.58203317440219867531"
    group = build_payload("book it", sender="14155550142", group_id="Y2FwaV9ncm91cDo", bsuid="US.1")
    assert group["entry"][0]["changes"][0]["value"]["messages"][0]["group_id"] == "Y2FwaV9ncm91cDo"
    ids = {build_payload("x", sender="1")["entry"][0]["changes"][0]["value"]["messages"][0]["id"] for _ in range(200)}
    assert len(ids) == 200 and all(i.startswith("wamid.") for i in ids)


def test_simulate_whatsapp_posts_a_correctly_signed_payload() -> None:
    with InboundReceiver() as receiver:
        result = run_json(["--url", receiver.url, "simulate", "whatsapp", "--from", "447700900123",
                           "--app-secret", "app-secret-0123", "Grüße 👍"], {**WA_ENV})
        [record] = receiver.received()
    assert record["path"] == "/v1/webhooks/whatsapp" and result["status"] == 202
    raw = encode(record["envelope"])
    expected = "sha256=" + hmac.new(b"app-secret-0123", raw, hashlib.sha256).hexdigest()
    assert record["headers"]["X-Hub-Signature-256"] == expected
    message = record["envelope"]["entry"][0]["changes"][0]["value"]["messages"][0]
    assert message["text"]["body"] == "Grüße 👍" and message["from"] == "447700900123"
    assert result["eventId"] == f"wa:{message['id']}"
    assert "app-secret-0123" not in json.dumps(result)


def test_simulate_whatsapp_without_the_app_secret_is_a_usage_error() -> None:
    result = run(["simulate", "whatsapp", "--from", "1", "hi"], {**WA_ENV})
    assert result.exit_code == 2 and "WHATSAPP_APP_SECRET" in result.stderr


# --- verify-webhook -------------------------------------------------------------------------------
def test_verify_webhook_reports_ok_for_a_mux_that_checks_the_token(stub: Any) -> None:
    url = stub(verifier("verify-me"))
    result = run(["--url", url, "whatsapp", "verify-webhook", "--verify-token", "verify-me"], {**WA_ENV})
    assert result.exit_code == 0, result.stderr
    assert "OK" in result.stdout and "/v1/webhooks/whatsapp" in result.stdout


@pytest.mark.parametrize(("served", "token", "reason"), [
    ("verify-me", "other-token", "refused the token (403)"),
    (None, "verify-me", "wrong verify token got 200"),
])
def test_verify_webhook_fails_with_the_reason(stub: Any, served: str | None, token: str, reason: str) -> None:
    url = stub(verifier(served or "x", strict=served is not None))
    result = run(["--url", url, "whatsapp", "verify-webhook", "--verify-token", token], {**WA_ENV})
    assert result.exit_code == 1 and reason in result.stderr
    assert token not in result.stderr


# --- the Cloud API stand-in -----------------------------------------------------------------------
def test_the_stand_in_applies_metas_rules() -> None:
    lines: list[str] = []
    with FakeGraph(access_token="tok", printer=lines.append) as fake:
        url = f"{fake.base_url}/318765432109876/messages"
        auth = {"Authorization": "Bearer tok"}

        def post(body: dict[str, Any], headers: dict[str, str] = auth) -> requests.Response:
            return requests.post(url, json=body, headers=headers, timeout=5)

        ok = post(fixture("send_text_request.json"))
        assert ok.status_code == 200 and ok.json()["contacts"] == fixture("send_ok.json")["contacts"]
        assert ok.json()["messages"][0]["id"].startswith("wamid.")
        bsuid = post(fixture("send_text_request_bsuid.json")).json()
        assert bsuid["contacts"] == fixture("send_ok_bsuid.json")["contacts"]
        assert post(fixture("typing_request.json")).json() == fixture("typing_ok.json")
        assert post(fixture("send_group_text_request.json")).status_code == 200
        assert post(fixture("send_text_request.json"), {"Authorization": "Bearer nope"}).json()["error"]["code"] == 190
        long_text = {**fixture("send_text_request.json"), "text": {"body": "x" * 4097}}
        audio_caption = {**fixture("send_image_request.json"), "type": "audio",
                         "audio": {"link": "https://x.example/a.mp3", "caption": "no"}}
        both = {**fixture("send_text_request.json"), "recipient": "US.1"}
        no_product = {k: v for k, v in fixture("send_text_request.json").items() if k != "messaging_product"}
        for bad in (long_text, audio_caption, both, no_product):
            refused = post(bad)
            assert refused.status_code == 400 and refused.json()["error"]["code"] == 100, bad
        fake.closed_windows.add("447700900123")
        closed = post(fixture("send_text_request.json"))
        assert closed.status_code == 400 and closed.json() == {
            **fixture("error.json"), "error": {**fixture("error.json")["error"], "fbtrace_id": "AfakeTRACE"}}
        template = {**fixture("send_text_request.json"), "type": "template",
                    "template": {"name": "hello_world", "language": {"code": "en_US"}}}
        assert post(template).status_code == 200
        fake.add_media("1183746529304857", b"jpeg-bytes", "image/jpeg")
        info = requests.get(f"{fake.base_url}/1183746529304857", headers=auth, timeout=5).json()
        assert shape(info) == shape(fixture("media_url_ok.json"))
        assert requests.get(info["url"], timeout=5).status_code == 401
        assert requests.get(info["url"], headers=auth, timeout=5).content == b"jpeg-bytes"
        recorded = requests.get(f"{fake.url}/_fake/calls", timeout=5).json()["items"]
        assert len(recorded) == len(fake.calls(None))
    assert any('to +447700900123: text "Here is a short summary' in line for line in lines)
    assert any("read + typing on wamid." in line for line in lines)


def test_dev_whatsapp_command_prints_what_the_mux_sends() -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MUX_", "WHATSAPP_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "muxctl", "dev", "whatsapp", "--port", str(port), "--closed-window", "+14155550142"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    base = f"http://127.0.0.1:{port}"

    def listening() -> bool:
        try:
            return requests.get(f"{base}/_fake/calls", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_until(listening, 15, "muxctl dev whatsapp to listen")
        body = {**fixture("send_image_request.json")}
        assert requests.post(f"{base}/v23.0/318765432109876/messages", json=body, timeout=5).status_code == 200
        closed = {**fixture("send_text_request.json"), "to": "+14155550142"}
        assert requests.post(f"{base}/v23.0/318765432109876/messages", json=closed, timeout=5).status_code == 400
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert "MUX_WHATSAPP_API_BASE_URL=" in out
    assert 'to +447700900123: image https://assets.example.com/charts/q2-revenue.png caption="Q2 revenue' in out
    assert "-> 400" in out and "131047" in out


# --- pair whatsapp --------------------------------------------------------------------------------
def token_mux(instructions: str | None) -> Callable[[str, str, bytes], tuple[int, str, bytes]]:
    def answer(method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        assert (method, path) == ("POST", "/v1/pairings/token") and json.loads(body)["channel"] == "whatsapp"
        return 200, "application/json", json.dumps({
            "ok": True, "channel": "whatsapp", "token": "mpt_AbC-123_xyz", "tokenId": "ptk_1",
            "expiresAtMs": 4102444800000, "startCommand": None, "deepLink": None, "instructions": instructions,
        }).encode()

    return answer


def test_pair_whatsapp_shows_the_number_and_a_wa_me_link_with_the_token(stub: Any) -> None:
    url = stub(token_mux("Send this token as a WhatsApp message to +15551230042."))
    result = run(["--url", url, "--key", "k" * 30, "pair", "whatsapp"], {**WA_ENV})
    assert result.exit_code == 0, result.stderr
    assert "+15551230042" in result.stdout
    assert "https://wa.me/15551230042?text=mpt_AbC-123_xyz" in result.stdout
    assert "█" in result.stdout or "▀" in result.stdout or "▄" in result.stdout  # the QR code
    data = run_json(["--url", url, "--key", "k" * 30, "pair", "whatsapp", "--number", "+44 7700 900000"],
                    {**WA_ENV})
    assert data["waMeLink"] == wa_me_link("447700900000", "mpt_AbC-123_xyz") == \
        "https://wa.me/447700900000?text=mpt_AbC-123_xyz"


def test_pair_whatsapp_without_a_known_number_says_how(stub: Any) -> None:
    url = stub(token_mux(None))
    result = run(["--url", url, "--key", "k" * 30, "pair", "whatsapp", "--no-qr"], {**WA_ENV})
    assert result.exit_code == 0 and "pass --number" in result.stdout and "https://wa.me/" not in result.stdout
