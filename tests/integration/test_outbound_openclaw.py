"""Replay the request bodies OpenClaw's mux client really sends and check it would accept every answer.

The bodies in tests/fixtures/openclaw/*.json come from openclaw/openclaw: `sendViaMux` and
`sendTypingViaMux` in src/channels/plugins/outbound/mux.ts build the envelope (requestId, channel,
sessionKey, accountId, to, text ?? "", mediaUrl, replyToId, threadId, channelData, raw, openclawId; the
requestId doubles as the Idempotency-Key header), the Telegram outbound adapter
(src/channels/plugins/outbound/telegram.ts) and src/channels/plugins/mux-envelope.ts build `raw.telegram`
(sendMessage/sendPhoto with HTML parse mode, inline keyboards, reply parameters; editMessageText;
setMessageReaction). Each fixture's `source` names the function it reproduces.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from chalicelib.storage import messages
from tests.fakes.pairing import bind_telegram
from tests.fakes.telegram_server import FakeTelegram

OPENCLAW = Path(__file__).resolve().parent.parent / "fixtures" / "openclaw"
KEY = "tenant-openclaw-key-0123456789ab"
NO_THREAD = {"editMessageText", "setMessageReaction", "answerCallbackQuery"}


def openclaw_accepts(status: int, answer: dict[str, Any], *, typing: bool) -> bool:
    """mux.ts: `response.ok` (2xx), and for sends `readString(payload.messageId)` (a non-blank string)."""
    if not 200 <= status < 300:
        return False
    if typing:
        return True
    message_id = answer.get("messageId")
    return isinstance(message_id, str) and bool(message_id.strip())


@pytest.mark.parametrize("name", sorted(p.name for p in OPENCLAW.glob("*.json")))
def test_openclaw_request_is_delivered_and_accepted(
    client: Any, tg: FakeTelegram, make_tenant: Any, name: str
) -> None:
    make_tenant("oc", "http://127.0.0.1:9/v1/mux/inbound", KEY)
    fixture = json.loads((OPENCLAW / name).read_text())
    request = fixture["body"]
    chat, topic = fixture["binding"]["chatId"], fixture["binding"]["topicId"]
    binding = bind_telegram("oc", chat, topic_id=topic, session_key=request["sessionKey"])
    typing = bool(fixture.get("typing"))
    raw_body = (request.get("raw") or {}).get("telegram", {}).get("body", {})
    # Edits, reactions and replies name messages the mux sent to (or forwarded from) that chat.
    targets = [raw_body.get("message_id"), raw_body.get("reply_to_message_id")]
    targets.append((raw_body.get("reply_parameters") or {}).get("message_id"))
    owned = [str(t) for t in targets if t is not None]
    if owned:
        messages.record(binding.route_key, owned, "oc", int(time.time() * 1000))

    resp = client.http.post(
        "/v1/mux/outbound/send",
        headers={
            "Authorization": f"Bearer {KEY}",
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": request["requestId"],
        },
        body=json.dumps(request),
    )
    answer = json.loads(resp.body)
    assert openclaw_accepts(resp.status_code, answer, typing=typing), (resp.status_code, answer)

    calls = tg.calls()
    assert len(calls) == 1
    sent = calls[0]
    assert sent.body["chat_id"] == int(chat)  # OpenClaw's `to`-derived chat_id never decides the chat
    if typing:
        assert (sent.method, sent.body) == (
            "sendChatAction",
            {"chat_id": int(chat), "action": "typing", "message_thread_id": int(topic)},
        )
        assert answer == {"ok": True}
        return
    raw = request["raw"]["telegram"]
    assert sent.method == raw["method"]
    expected = {k: v for k, v in raw["body"].items() if k not in ("chat_id", "message_thread_id")}
    assert {k: v for k, v in sent.body.items() if k not in ("chat_id", "message_thread_id")} == expected
    if topic and raw["method"] not in NO_THREAD:
        assert sent.body["message_thread_id"] == int(topic)
    else:
        assert "message_thread_id" not in sent.body
    assert answer["chatId"] == chat
    assert answer["providerMessageIds"][0] == answer["messageId"]


def test_openclaw_retry_with_the_same_request_id_is_not_sent_twice(
    client: Any, tg: FakeTelegram, make_tenant: Any
) -> None:
    make_tenant("oc", "http://127.0.0.1:9/v1/mux/inbound", KEY)
    fixture = json.loads((OPENCLAW / "send_text.json").read_text())
    request = fixture["body"]
    bind_telegram("oc", fixture["binding"]["chatId"], session_key=request["sessionKey"])
    headers = {"Authorization": f"Bearer {KEY}", "Idempotency-Key": request["requestId"]}
    answers = [client.http.post("/v1/mux/outbound/send", headers=headers, body=json.dumps(request)) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].body == answers[1].body
    assert len(tg.calls("sendMessage")) == 1
