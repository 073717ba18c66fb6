"""POST /v1/mux/outbound/send and /typing against a fake Telegram Bot API on loopback (moto for AWS).

Every test asserts what the fake Telegram received (or that it received nothing) and/or what is stored.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from chalicelib.storage import bindings, messages, table
from tests.fakes.pairing import bind_telegram, telegram_route_key, telegram_session_key
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import BOT_TOKEN, fixture

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "telegram"
DM = "5123456789"
GROUP = "-1002233445566"
KEY_1 = "tenant-one-key-0123456789abcdef"
KEY_2 = "tenant-two-key-0123456789abcdef"
SEND = "/v1/mux/outbound/send"
TYPING = "/v1/mux/outbound/typing"




@pytest.fixture
def tenants(make_tenant: Any, tg: FakeTelegram) -> None:
    make_tenant("t1", "http://127.0.0.1:9/v1/mux/inbound", KEY_1)


@pytest.fixture
def tenant2(make_tenant: Any, tenants: None) -> None:
    make_tenant("t2", "http://127.0.0.1:9/v1/mux/inbound", KEY_2)


def post(
    client: Any, body: Any, *, key: str | None = KEY_1, path: str = SEND, idem: str | None = None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if idem:
        headers["Idempotency-Key"] = idem
    raw = body if isinstance(body, str) else json.dumps(body)
    resp = client.http.post(path, headers=headers, body=raw)
    return resp.status_code, json.loads(resp.body), dict(resp.headers)


def raw_send(session_key: str, method: str, body: dict[str, Any], **extra: Any) -> dict[str, Any]:
    raw = {"telegram": {"method": method, "body": body}}
    return {"channel": "telegram", "sessionKey": session_key, "raw": raw, **extra}


# --- route lock ---------------------------------------------------------------------------------
def test_raw_send_with_forged_chat_id_lands_in_the_bound_chat(client: Any, tenants: None, tg: FakeTelegram) -> None:
    bind_telegram("t1", DM)
    body = raw_send(
        telegram_session_key(DM),
        "sendMessage",
        {"chat_id": 424242, "text": "<b>hi</b>", "parse_mode": "HTML"},
        to="telegram:424242",
    )
    status, answer, _ = post(client, body)
    assert status == 200
    calls = tg.calls("sendMessage")
    assert len(calls) == 1
    assert calls[0].token == BOT_TOKEN
    assert calls[0].body == {"chat_id": int(DM), "text": "<b>hi</b>", "parse_mode": "HTML"}
    assert answer == {"ok": True, "messageId": "1000", "providerMessageIds": ["1000"], "chatId": DM}


def test_text_mode_ignores_to_and_sends_plain_text(client: Any, tenants: None, tg: FakeTelegram) -> None:
    bind_telegram("t1", DM)
    status, answer, _ = post(
        client, {"channel": "telegram", "sessionKey": telegram_session_key(DM), "to": "telegram:1", "text": "hello"}
    )
    assert status == 200
    assert tg.bodies() == [{"chat_id": int(DM), "text": "hello"}]
    assert answer["chatId"] == DM and answer["messageId"] == answer["providerMessageIds"][0]


def test_topic_binding_forces_its_topic(client: Any, tenants: None, tg: FakeTelegram) -> None:
    bind_telegram("t1", GROUP, topic_id=42)
    session = telegram_session_key(GROUP, "42")
    post(client, raw_send(session, "sendMessage", {"chat_id": 1, "text": "a", "message_thread_id": 7}))
    post(client, {"channel": "telegram", "sessionKey": session, "text": "b", "threadId": 99})
    assert [(b["chat_id"], b["message_thread_id"]) for b in tg.bodies("sendMessage")] == [
        (int(GROUP), 42),
        (int(GROUP), 42),
    ]


def test_general_topic_is_omitted_on_sends_and_kept_for_typing(client: Any, tenants: None, tg: FakeTelegram) -> None:
    bind_telegram("t1", GROUP, topic_id=1)
    session = telegram_session_key(GROUP, "1")
    status, _, _ = post(client, raw_send(session, "sendMessage", {"text": "a", "message_thread_id": 1}))
    assert status == 200
    status, answer, _ = post(client, {"channel": "telegram", "sessionKey": session}, path=TYPING)
    assert (status, answer) == (200, {"ok": True})
    assert tg.bodies("sendMessage") == [{"chat_id": int(GROUP), "text": "a"}]
    assert tg.bodies("sendChatAction") == [{"chat_id": int(GROUP), "action": "typing", "message_thread_id": 1}]


def test_callers_thread_is_used_for_an_unthreaded_binding(client: Any, tenants: None, tg: FakeTelegram) -> None:
    bind_telegram("t1", DM)
    post(client, {"channel": "telegram", "sessionKey": telegram_session_key(DM), "text": "x", "threadId": "12"})
    assert tg.bodies("sendMessage") == [{"chat_id": int(DM), "text": "x", "message_thread_id": 12}]


# --- text mode ------------------------------------------------------------------------------------
def test_long_text_is_split_on_line_boundaries(client: Any, tenants: None, tg: FakeTelegram) -> None:
    bind_telegram("t1", DM)
    text = "\n".join(f"{i:04d} " + "lorem ipsum " * 7 for i in range(100))  # ~9,000 chars
    status, answer, _ = post(client, {"channel": "telegram", "sessionKey": telegram_session_key(DM), "text": text})
    assert status == 200
    sent = [b["text"] for b in tg.bodies("sendMessage")]
    assert len(sent) == 3
    assert all(len(s) <= 4096 for s in sent)
    assert "\n".join(sent) == text
    assert answer["providerMessageIds"] == ["1000", "1001", "1002"]
    assert answer["messageId"] == "1000"


def test_photo_carries_the_caption_and_reply(client: Any, tenants: None, tg: FakeTelegram) -> None:
    binding = bind_telegram("t1", DM)
    messages.record(binding.route_key, ["77"], "t1", int(time.time() * 1000))  # forwarded from this chat
    status, answer, _ = post(
        client,
        {
            "channel": "telegram",
            "sessionKey": telegram_session_key(DM),
            "text": "a cat",
            "mediaUrl": "https://cdn.example/cat.jpg",
            "mediaUrls": ["https://cdn.example/cat.jpg", "https://cdn.example/report.pdf"],
            "replyToId": "77",
        },
    )
    assert status == 200
    assert [c.method for c in tg.calls()] == ["sendPhoto", "sendDocument"]
    photo, doc = tg.bodies()
    assert photo == {
        "chat_id": int(DM),
        "photo": "https://cdn.example/cat.jpg",
        "caption": "a cat",
        "reply_parameters": {"message_id": 77, "allow_sending_without_reply": True},
    }
    assert doc == {"chat_id": int(DM), "document": "https://cdn.example/report.pdf"}
    assert answer["providerMessageIds"] == ["1000", "1001"]


def test_caption_over_1024_goes_as_photo_then_text(client: Any, tenants: None, tg: FakeTelegram) -> None:
    bind_telegram("t1", DM)
    text = "word " * 300
    status, _, _ = post(
        client,
        {"channel": "telegram", "sessionKey": telegram_session_key(DM), "text": text, "mediaUrl": "https://x/p.png"},
    )
    assert status == 200
    assert [c.method for c in tg.calls()] == ["sendPhoto", "sendMessage"]
    photo, message = tg.bodies()
    assert "caption" not in photo
    assert message["text"] == text


# --- raw methods with a `true` result ---------------------------------------------------------------
def test_raw_methods_without_message_result_get_stable_ids(client: Any, tenants: None, tg: FakeTelegram) -> None:
    binding = bind_telegram("t1", GROUP, topic_id=42)
    session = telegram_session_key(GROUP, "42")
    # Messages the mux forwarded from this topic (and a callback on one of them).
    messages.record(binding.route_key, ["55", "56", "cbq:cbq-1"], "t1", int(time.time() * 1000))
    _, react, _ = post(
        client,
        raw_send(session, "setMessageReaction", {"message_id": 55, "reaction": [{"type": "emoji", "emoji": "👍"}]}),
    )
    _, answer_cb, _ = post(
        client, raw_send(session, "answerCallbackQuery", {"callback_query_id": "cbq-1"}, requestId="req-9")
    )
    _, edit, _ = post(client, raw_send(session, "editMessageText", {"message_id": 56, "text": "edited"}))
    assert react["messageId"] == "55"
    assert answer_cb["messageId"] == "answerCallbackQuery:req-9"
    assert edit["messageId"] == "56"
    assert tg.bodies("setMessageReaction") == [
        {"message_id": 55, "reaction": [{"type": "emoji", "emoji": "👍"}], "chat_id": int(GROUP)}
    ]
    assert tg.bodies("answerCallbackQuery") == [{"callback_query_id": "cbq-1"}]
    assert tg.bodies("editMessageText") == [{"message_id": 56, "text": "edited", "chat_id": int(GROUP)}]


def test_unsupported_raw_method_is_refused_before_telegram(client: Any, tenants: None, tg: FakeTelegram) -> None:
    bind_telegram("t1", DM)
    status, answer, _ = post(client, raw_send(telegram_session_key(DM), "banChatMember", {"user_id": 1}))
    assert (status, answer["code"], answer["ok"]) == (400, "UNSUPPORTED_METHOD", False)
    assert tg.calls() == []


# --- typing ---------------------------------------------------------------------------------------
def test_typing_action_on_the_send_route(client: Any, tenants: None, tg: FakeTelegram) -> None:
    bind_telegram("t1", DM)
    body = {"channel": "telegram", "sessionKey": telegram_session_key(DM), "op": "action", "action": "typing"}
    status, answer, _ = post(client, body)
    assert (status, answer) == (200, {"ok": True})
    assert tg.bodies("sendChatAction") == [{"chat_id": int(DM), "action": "typing"}]


def test_unsupported_action(client: Any, tenants: None, tg: FakeTelegram) -> None:
    bind_telegram("t1", DM)
    body = {"channel": "telegram", "sessionKey": telegram_session_key(DM), "op": "action", "action": "upload_photo"}
    status, answer, _ = post(client, body)
    assert (status, answer["code"]) == (400, "UNSUPPORTED_ACTION")
    assert tg.calls() == []


def test_typing_route_needs_a_binding(client: Any, tenants: None, tg: FakeTelegram) -> None:
    status, answer, _ = post(client, {"channel": "telegram", "sessionKey": "agent:main:nope"}, path=TYPING)
    assert (status, answer["code"]) == (403, "ROUTE_NOT_BOUND")
    assert tg.calls() == []


# --- provider errors --------------------------------------------------------------------------------
def test_rate_limit_is_502_with_retry_after(client: Any, tenants: None, tg: FakeTelegram) -> None:
    bind_telegram("t1", DM)
    tg.script("sendMessage", fixture("error_429.json"))
    status, answer, _ = post(client, {"channel": "telegram", "sessionKey": telegram_session_key(DM), "text": "x"})
    assert status == 502
    assert answer["code"] == "PROVIDER_RATE_LIMITED"
    assert answer["retryAfterMs"] == 35_000
    assert answer["details"]["description"] == "Too Many Requests: retry after 35"
    assert len(tg.calls("sendMessage")) == 1


def test_refusal_is_502_with_telegrams_description(client: Any, tenants: None, tg: FakeTelegram) -> None:
    bind_telegram("t1", DM)
    tg.script("sendMessage", fixture("error_403_blocked.json"))
    status, answer, _ = post(client, {"channel": "telegram", "sessionKey": telegram_session_key(DM), "text": "x"})
    assert (status, answer["ok"], answer["code"]) == (502, False, "PROVIDER_ERROR")
    assert answer["details"]["description"] == "Forbidden: bot was blocked by the user"


def test_unreachable_telegram_is_502(client: Any, tenants: None, configure: Any) -> None:
    bind_telegram("t1", DM)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    configure(MUX_TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{port}")
    status, answer, _ = post(client, {"channel": "telegram", "sessionKey": telegram_session_key(DM), "text": "x"})
    assert (status, answer["code"]) == (502, "PROVIDER_ERROR")
    assert BOT_TOKEN not in json.dumps(answer)


@pytest.mark.parametrize("topic", [None, "5"])
def test_migrated_group_moves_the_binding_and_retries(
    client: Any, tenants: None, tg: FakeTelegram, topic: str | None
) -> None:
    old_chat, new_chat = "-4001234567", "-1009876543210"
    binding = bind_telegram("t1", old_chat, topic_id=topic)
    session = binding.session_key
    tg.script("sendMessage", fixture("error_400_migrated.json"))
    status, answer, _ = post(client, {"channel": "telegram", "sessionKey": session, "text": "after upgrade"})
    assert status == 200
    assert answer["chatId"] == new_chat
    assert [b["chat_id"] for b in tg.bodies("sendMessage")] == [int(old_chat), int(new_chat)]
    new_route = telegram_route_key(new_chat, topic)
    moved = bindings.get_route(new_route)
    assert moved is not None and (moved.tenant_id, moved.binding_id) == ("t1", binding.binding_id)
    assert bindings.get_route(binding.route_key) is None
    assert (bindings.session_route("t1", "telegram", session) or {})["routeKey"] == new_route
    # The next send goes straight to the new chat.
    status, _, _ = post(client, {"channel": "telegram", "sessionKey": session, "text": "again"})
    assert status == 200
    assert [b["chat_id"] for b in tg.bodies("sendMessage")][-1] == int(new_chat)
    assert len(tg.calls("sendMessage")) == 3


# --- who may send where -------------------------------------------------------------------------------
def test_unbound_session_is_403(client: Any, tenants: None, tg: FakeTelegram) -> None:
    status, answer, _ = post(client, {"channel": "telegram", "sessionKey": telegram_session_key(DM), "text": "x"})
    assert (status, answer["ok"], answer["code"]) == (403, False, "ROUTE_NOT_BOUND")
    assert tg.calls() == []


def test_another_tenants_session_key_is_403(client: Any, tenants: None, tenant2: None, tg: FakeTelegram) -> None:
    bind_telegram("t1", DM)
    status, answer, _ = post(
        client, {"channel": "telegram", "sessionKey": telegram_session_key(DM), "text": "x"}, key=KEY_2
    )
    assert (status, answer["code"]) == (403, "ROUTE_NOT_BOUND")
    assert tg.calls() == []


def test_stale_session_route_is_403(client: Any, tenants: None, tenant2: None, tg: FakeTelegram) -> None:
    """The session item survives but the route lock is gone, then owned by another tenant."""
    binding = bind_telegram("t1", DM)
    table.delete(table.route_key(binding.route_key))
    body = {"channel": "telegram", "sessionKey": binding.session_key, "text": "x"}
    assert post(client, body)[1]["code"] == "ROUTE_NOT_BOUND"
    bind_telegram("t2", DM)
    assert post(client, body)[1]["code"] == "ROUTE_NOT_BOUND"
    assert post(client, body, key=KEY_2)[0] == 200  # t2 owns the chat now
    assert [c.body["chat_id"] for c in tg.calls()] == [int(DM)]


def test_wrong_channel_for_the_session_is_refused(client: Any, tenants: None, tg: FakeTelegram, configure: Any) -> None:
    bind_telegram("t1", DM)
    configure(DISCORD_BOT_TOKEN="x", DISCORD_PUBLIC_KEY="y")
    status, answer, _ = post(client, {"channel": "discord", "sessionKey": telegram_session_key(DM), "text": "x"})
    assert status in (400, 403)  # 400 CHANNEL_DISABLED until a Discord sender exists
    assert answer["code"] in ("ROUTE_NOT_BOUND", "CHANNEL_DISABLED")
    assert tg.calls() == []


# --- request checks ---------------------------------------------------------------------------------
def test_disabled_telegram(client: Any, tenants: None, tg: FakeTelegram, configure: Any) -> None:
    bind_telegram("t1", DM)
    configure(TELEGRAM_BOT_TOKEN=None)
    status, answer, _ = post(client, {"channel": "telegram", "sessionKey": telegram_session_key(DM), "text": "x"})
    assert (status, answer["code"]) == (400, "CHANNEL_DISABLED")
    assert tg.calls() == []


@pytest.mark.parametrize(
    ("body", "key", "status", "code"),
    [
        ({"channel": "telegram", "sessionKey": "s", "text": "x"}, None, 401, "UNAUTHORIZED"),
        ({"channel": "telegram", "sessionKey": "s", "text": "x"}, "wrong-key-000000000000000000", 401, "UNAUTHORIZED"),
        ("{not json", KEY_1, 400, "INVALID_JSON"),
        ("[1, 2]", KEY_1, 400, "INVALID_JSON"),
        ({"channel": "telegram", "text": "x"}, KEY_1, 400, "INVALID_REQUEST"),
        ({"channel": "sms", "sessionKey": "s", "text": "x"}, KEY_1, 400, "INVALID_REQUEST"),
        ({"channel": "telegram", "sessionKey": "s", "op": "poke"}, KEY_1, 400, "INVALID_REQUEST"),
        ({"channel": "telegram", "sessionKey": "s", "text": ""}, KEY_1, 400, "INVALID_REQUEST"),
        ({"channel": "telegram", "sessionKey": "s", "raw": {"telegram": []}}, KEY_1, 400, "INVALID_REQUEST"),
    ],
)
def test_bad_requests(
    client: Any, tenants: None, tg: FakeTelegram, body: Any, key: str | None, status: int, code: str
) -> None:
    got_status, answer, _ = post(client, body, key=key)
    assert (got_status, answer["ok"], answer["code"]) == (status, False, code)
    assert isinstance(answer["error"], str) and answer["error"]
    assert tg.calls() == []


def test_body_over_the_limit_is_413(client: Any, tenants: None, tg: FakeTelegram, configure: Any) -> None:
    configure(MUX_MAX_BODY_BYTES="200")
    status, answer, _ = post(client, {"channel": "telegram", "sessionKey": "s", "text": "x" * 500})
    assert (status, answer["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert tg.calls() == []


# --- plug-in senders ------------------------------------------------------------------------------------
class RecordingSender:
    """A platform sender registered without touching the route or the service."""

    channel = "discord"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None]] = []

    def enabled(self, settings: Any) -> bool:
        return True

    def validate(self, request: Any) -> None:
        return None

    def plan(self, destination: Any, request: Any) -> Any:
        from chalicelib.channels.base import SendPlan, SendResult

        def part() -> str:
            self.sent.append((destination.chat_id, request.text))
            return f"dc-{len(self.sent)}"

        return SendPlan(parts=[part], result=lambda ids: SendResult(ids, channel_id=destination.chat_id))

    def typing(self, destination: Any, request: Any = None) -> None:
        self.sent.append((destination.chat_id, None))


def test_a_registered_sender_serves_its_channel(client: Any, tenants: None, tg: FakeTelegram) -> None:
    import uuid

    from chalicelib.channels import base
    from chalicelib.models import Binding

    now = int(time.time() * 1000)
    token = uuid.uuid4().hex
    bindings.put_token(token, {"tenantId": "t1", "channel": "discord"}, now + 60_000)
    route = "discord:default:guild:1:channel:222"
    binding = Binding(
        binding_id="bind_dc",
        tenant_id="t1",
        channel="discord",
        scope="channel",
        route_key=route,
        session_key="agent:main:discord:channel:222",
        chat_id="222",
        created_at_ms=now,
    )
    bindings.claim(token_hash=token, channel="discord", binding=binding, existing=None, now_ms=now)
    sender = RecordingSender()
    base.register("discord", sender)
    try:
        body = {"channel": "discord", "sessionKey": "agent:main:discord:channel:222", "text": "hi", "to": "channel:9"}
        status, answer, _ = post(client, body)
        typing_status, _, _ = post(client, {"channel": "discord", "sessionKey": binding.session_key}, path=TYPING)
    finally:
        base.register("discord", None)
    assert (status, answer) == (
        200,
        {"ok": True, "messageId": "dc-1", "providerMessageIds": ["dc-1"], "channelId": "222"},
    )
    assert typing_status == 200
    assert sender.sent == [("222", "hi"), ("222", None)]
    assert tg.calls() == []
