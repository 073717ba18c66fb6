"""The fake OpenClaws apply OpenClaw's inbound handler rules (src/gateway/mux-http.ts at 022295a)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from muxctl.openclaw_inbound import IMAGE_MAX_BYTES, InboundHandler, Verdict

KEY = "tenant-key-0123456789abcdefghijklmnop"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
BASE = {"eventId": "tg:1", "channel": "telegram", "sessionKey": "agent:main:telegram:direct:1",
        "to": "telegram:1", "accountId": "mux", "messageId": "10", "body": "hi"}


def post(handler: InboundHandler, envelope: Any, key: str | None = KEY) -> Verdict:
    headers = {"Authorization": f"bearer   {key}  "} if key is not None else {}
    raw = envelope if isinstance(envelope, bytes) else json.dumps(envelope).encode()
    return handler.handle("POST", headers, raw)


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"channel": ""}, 400, "channel required"),
        ({"channel": "myspace"}, 400, "channel required"),
        ({"sessionKey": "  "}, 400, "sessionKey required"),
        ({"to": None}, 400, "to required"),
        ({"body": "   "}, 400, "body or attachment required"),
        ({"body": "", "attachments": [{"type": "document", "url": "http://x"}]}, 400, "body or attachment required"),
        ({"body": None, "attachments": [{"type": "image", "content": ""}]}, 400, "body or attachment required"),
    ],
)
def test_envelopes_the_handler_refuses(change: dict[str, Any], status: int, error: str) -> None:
    verdict = post(InboundHandler(KEY), {**BASE, **change})
    assert (verdict.status, verdict.answer) == (status, {"ok": False, "error": error})
    assert verdict.turn is None


def test_bearer_and_endpoint_switch() -> None:
    assert post(InboundHandler(KEY), BASE, key="wrong").status == 401
    assert post(InboundHandler(KEY), BASE, key=None).status == 401
    assert post(InboundHandler(None), BASE, key=None).status == 401  # any key, but one is needed
    assert post(InboundHandler(None), BASE, key="whatever").status == 202
    assert post(InboundHandler(KEY, enabled=False), BASE).answer == {"ok": False, "error": "not enabled"}
    assert post(InboundHandler(KEY), b"{nope").status == 400
    assert post(InboundHandler(KEY), b"[1, 2]").answer["error"] == "channel required"


def test_an_attachment_with_content_carries_a_message_without_text() -> None:
    verdict = post(InboundHandler(KEY), {**BASE, "body": "", "attachments": [
        {"type": "image", "mimeType": "image/png", "content": base64.b64encode(PNG).decode()},
        {"type": "voice", "mimeType": "audio/ogg", "content": base64.b64encode(b"OggS....").decode()},
    ]})
    assert verdict.status == 202 and verdict.answer == {"ok": True, "eventId": "tg:1"}
    assert verdict.turn is not None
    assert [i["mimeType"] for i in verdict.turn["images"]] == ["image/png"]  # non-images never reach the agent


@pytest.mark.parametrize(
    "content", ["not base64!", "====", base64.b64encode(b"x" * (IMAGE_MAX_BYTES + 1)).decode()],
    ids=["invalid", "empty", "over-5MB"],
)
def test_an_unparsable_or_oversized_attachment_drops_the_whole_turn_after_a_202(content: str) -> None:
    verdict = post(InboundHandler(KEY), {**BASE, "attachments": [{"type": "image", "content": content}]})
    assert verdict.status == 202 and verdict.turn is None and verdict.note.startswith("dropped")


def test_message_id_dedupe_lasts_20_minutes_per_session_peer_and_thread() -> None:
    now = [1_000_000.0]
    handler = InboundHandler(KEY, clock_ms=lambda: now[0])
    assert post(handler, BASE).turn is not None
    assert post(handler, {**BASE, "eventId": "tg:2", "body": "other"}).note == "duplicate"  # same messageId
    assert post(handler, {**BASE, "threadId": 5}).turn is not None  # another thread: another key
    assert post(handler, {**BASE, "messageId": "10:edit:99"}).turn is not None
    now[0] += 20 * 60_000 - 1
    assert post(handler, BASE).note == "duplicate"  # a hit refreshes the entry
    now[0] += 20 * 60_000
    assert post(handler, BASE).turn is not None
    # messageId falls back to eventId; a non-string messageId gets a fresh id (never deduped).
    no_id = {k: v for k, v in BASE.items() if k != "messageId"}
    assert post(handler, {**no_id, "eventId": "tg:7"}).turn is not None
    assert post(handler, {**no_id, "eventId": "tg:7"}).note == "duplicate"


def test_a_telegram_callback_needs_no_body() -> None:
    callback = {**BASE, "body": "", "event": {"kind": "callback", "raw": {}},
                "channelData": {"chatId": "1", "telegram": {"callbackData": "yes", "callbackMessageId": 5}}}
    verdict = post(InboundHandler(KEY), callback)
    assert verdict.status == 202 and verdict.turn is not None and verdict.turn["body"] == "yes"
    no_message = {**callback, "channelData": {"chatId": "1", "telegram": {"callbackData": "yes"}}}
    assert post(InboundHandler(KEY), no_message).status == 400


def test_the_muxctl_dev_openclaw_stand_in_applies_the_same_rules() -> None:
    import requests

    from muxctl.devservers import InboundReceiver

    with InboundReceiver(key=KEY) as receiver:
        url = receiver.url + "/v1/mux/inbound"
        auth = {"Authorization": f"Bearer {KEY}"}
        empty = requests.post(url, json={**BASE, "body": "", "attachments": [{"url": "http://x"}]}, headers=auth,
                              timeout=5)
        assert (empty.status_code, empty.json()["error"]) == (400, "body or attachment required")
        assert requests.post(url, json=BASE, headers={"Authorization": "Bearer nope"}, timeout=5).status_code == 401
        for _ in range(2):
            assert requests.post(url, json=BASE, headers=auth, timeout=5).status_code == 202
        outcomes = [r["outcome"] for r in receiver.received()]
        assert outcomes == ["body or attachment required", "unauthorized", "delivered", "duplicate"]
