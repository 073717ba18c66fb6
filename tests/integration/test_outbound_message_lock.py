"""The route lock below the chat: message-level actions (edit, react, delete, answer) act only on messages the mux
sent to or forwarded from the tenant's own route, topic included, and a chat binding does not post into a topic
another tenant has bound (CONTRACT §7). Two tenants share one forum supergroup, one topic each."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from chalicelib.storage import messages
from tests.fakes.openclaw_server import FakeOpenClaw
from tests.fakes.pairing import bind_telegram, telegram_route_key, telegram_session_key
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import drain, fixture, group_update, post_update

GROUP = "-1002233445566"
KEY_1 = "tenant-one-key-0123456789abcdef"
KEY_2 = "tenant-two-key-0123456789abcdef"
SEND = "/v1/mux/outbound/send"
TOPIC_1 = telegram_session_key(GROUP, "42")
TOPIC_2 = telegram_session_key(GROUP, "43")


@pytest.fixture
def forum(make_tenant: Any, tg: FakeTelegram) -> None:
    """t1 owns topic 42, t2 owns topic 43 of the same forum."""
    make_tenant("t1", "http://127.0.0.1:9/v1/mux/inbound", KEY_1)
    make_tenant("t2", "http://127.0.0.1:9/v1/mux/inbound", KEY_2)
    bind_telegram("t1", GROUP, topic_id=42)
    bind_telegram("t2", GROUP, topic_id=43)


def post(client: Any, body: dict[str, Any], key: str) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    resp = client.http.post(SEND, headers=headers, body=json.dumps(body))
    return resp.status_code, json.loads(resp.body)


def raw(session: str, method: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"channel": "telegram", "sessionKey": session, "raw": {"telegram": {"method": method, "body": body}}}


def actions(message_id: Any) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("editMessageText", {"message_id": message_id, "text": "defaced"}),
        ("setMessageReaction", {"message_id": message_id, "reaction": [{"type": "emoji", "emoji": "💩"}]}),
        ("deleteMessage", {"message_id": message_id}),
    ]


def test_another_topics_message_cannot_be_edited_reacted_to_or_deleted(
    client: Any, forum: None, tg: FakeTelegram
) -> None:
    status, sent = post(client, {"channel": "telegram", "sessionKey": TOPIC_2, "text": "t2's reply"}, KEY_2)
    assert status == 200
    theirs = int(sent["messageId"])
    for method, body in actions(theirs):
        status, answer = post(client, raw(TOPIC_1, method, body), KEY_1)
        assert (status, answer["code"]) == (403, "ROUTE_NOT_BOUND"), method
    # A message id the mux never sent (ids are sequential: the next one, or an old one) is refused too.
    for guess in (theirs + 1, theirs - 1, str(theirs)):
        assert post(client, raw(TOPIC_1, "editMessageText", {"message_id": guess, "text": "x"}), KEY_1)[0] == 403
    assert [c.method for c in tg.calls()] == ["sendMessage"]


def test_own_topics_message_can_be_edited_reacted_to_and_deleted(client: Any, forum: None, tg: FakeTelegram) -> None:
    status, sent = post(client, {"channel": "telegram", "sessionKey": TOPIC_1, "text": "draft"}, KEY_1)
    assert status == 200
    mine = int(sent["messageId"])
    for method, body in actions(mine):
        status, answer = post(client, raw(TOPIC_1, method, body), KEY_1)
        assert (status, answer["ok"]) == (200, True), (method, answer)
        assert answer["messageId"] == str(mine)
    assert [(c.method, c.body["chat_id"], c.body["message_id"]) for c in tg.calls()[1:]] == [
        ("editMessageText", int(GROUP), mine),
        ("setMessageReaction", int(GROUP), mine),
        ("deleteMessage", int(GROUP), mine),
    ]
    assert all("message_thread_id" not in c.body for c in tg.calls()[1:])
    # The owner of the other topic still cannot touch it.
    assert post(client, raw(TOPIC_2, "deleteMessage", {"message_id": mine}), KEY_2)[0] == 403


def test_forwarded_messages_and_callbacks_belong_to_the_route_they_came_from(
    client: Any, make_tenant: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, sqs_event: Any
) -> None:
    make_tenant("t1", openclaw.url, KEY_1)
    make_tenant("t2", "http://127.0.0.1:9/v1/mux/inbound", KEY_2)
    bind_telegram("t1", GROUP, topic_id=42)
    bind_telegram("t2", GROUP, topic_id=43)
    update = group_update(int(GROUP), "hello from topic 42", topic=42)
    callback = fixture("callback_query.json")
    cq = callback["callback_query"]
    cq["message"]["chat"] = {"id": int(GROUP), "title": "Forum", "type": "supergroup", "is_forum": True}
    cq["message"].update(message_thread_id=42, is_topic_message=True)
    for item in (update, callback):
        assert post_update(client, item).status_code == 200
    drain(sqs_event)
    assert len(openclaw.received) == 2
    inbound_id = update["message"]["message_id"]
    button_message = cq["message"]["message_id"]
    react = {"message_id": inbound_id, "reaction": [{"type": "emoji", "emoji": "👀"}]}
    answer_cb = {"callback_query_id": cq["id"], "text": "ok"}
    edit = {"message_id": button_message, "text": "Chose fast"}
    for method, body in (("setMessageReaction", react), ("answerCallbackQuery", answer_cb), ("editMessageText", edit)):
        assert post(client, raw(TOPIC_2, method, body), KEY_2)[0] == 403, method
        status, answer = post(client, raw(TOPIC_1, method, body), KEY_1)
        assert status == 200, (method, answer)
    assert [b["message_id"] for b in tg.bodies("setMessageReaction")] == [inbound_id]
    assert [b.get("text") for b in tg.bodies("answerCallbackQuery")] == [None, "ok"]  # the mux's own, then t1's
    assert [b["message_id"] for b in tg.bodies("editMessageText")] == [button_message]
    # A callback query id the mux never forwarded cannot be answered.
    forged = raw(TOPIC_1, "answerCallbackQuery", {"callback_query_id": "4567890123456789013"})
    assert post(client, forged, KEY_1)[0] == 403


def test_a_chat_binding_does_not_post_into_another_tenants_topic(
    client: Any, make_tenant: Any, tg: FakeTelegram
) -> None:
    make_tenant("t1", "http://127.0.0.1:9/v1/mux/inbound", KEY_1)
    make_tenant("t2", "http://127.0.0.1:9/v1/mux/inbound", KEY_2)
    bind_telegram("t1", GROUP)  # the whole chat (bound before it became a forum)
    bind_telegram("t2", GROUP, topic_id=43)
    chat = telegram_session_key(GROUP)
    refused = [
        raw(chat, "sendMessage", {"text": "into 43", "message_thread_id": 43}),
        raw(chat, "sendMessage", {"text": "into 43", "message_thread_id": " 43"}),
        raw(chat, "sendPhoto", {"photo": "https://cdn.example/p.png", "message_thread_id": 43}),
        {"channel": "telegram", "sessionKey": chat, "text": "into 43 too", "threadId": "43"},
    ]
    for body in refused:
        status, answer = post(client, body, KEY_1)
        assert (status, answer["code"]) == (403, "ROUTE_NOT_BOUND"), body
    assert tg.calls() == []
    # Topics nobody else bound, and the chat's General topic, stay open to the chat binding.
    assert post(client, raw(chat, "sendMessage", {"text": "into 44", "message_thread_id": "44"}), KEY_1)[0] == 200
    assert post(client, {"channel": "telegram", "sessionKey": chat, "text": "general"}, KEY_1)[0] == 200
    assert [(b["text"], b.get("message_thread_id")) for b in tg.bodies("sendMessage")] == [
        ("into 44", 44),
        ("general", None),
    ]


def test_a_chat_binding_does_not_post_into_another_tenants_general_topic(
    client: Any, make_tenant: Any, tg: FakeTelegram
) -> None:
    make_tenant("t1", "http://127.0.0.1:9/v1/mux/inbound", KEY_1)
    make_tenant("t2", "http://127.0.0.1:9/v1/mux/inbound", KEY_2)
    bind_telegram("t1", GROUP)
    bind_telegram("t2", GROUP, topic_id=1)
    body = {"channel": "telegram", "sessionKey": telegram_session_key(GROUP), "text": "x"}
    status, answer = post(client, body, KEY_1)
    assert (status, answer["code"]) == (403, "ROUTE_NOT_BOUND")
    assert tg.calls() == []


def test_a_reply_to_another_topics_message_goes_out_as_a_plain_message(
    client: Any, make_tenant: Any, tg: FakeTelegram
) -> None:
    """Telegram posts a reply into the replied message's topic: a General-topic or chat binding replying to
    another tenant's message would land in that tenant's topic."""
    make_tenant("t1", "http://127.0.0.1:9/v1/mux/inbound", KEY_1)
    make_tenant("t2", "http://127.0.0.1:9/v1/mux/inbound", KEY_2)
    bind_telegram("t1", GROUP, topic_id=1)
    bind_telegram("t2", GROUP, topic_id=43)
    general = telegram_session_key(GROUP, "1")
    status, sent = post(client, {"channel": "telegram", "sessionKey": TOPIC_2, "text": "t2's"}, KEY_2)
    assert status == 200
    theirs = int(sent["messageId"])
    status, own = post(client, {"channel": "telegram", "sessionKey": general, "text": "t1's"}, KEY_1)
    mine = int(own["messageId"])
    tg.reset()
    for reply in ({"reply_to_message_id": theirs}, {"reply_parameters": {"message_id": theirs, "quote": "t2"}}):
        assert post(client, raw(general, "sendMessage", {"text": "hijack", **reply}), KEY_1)[0] == 200
    text_mode = {"channel": "telegram", "sessionKey": general, "text": "hijack", "replyToId": str(theirs)}
    assert post(client, text_mode, KEY_1)[0] == 200
    assert tg.bodies("sendMessage") == [{"chat_id": int(GROUP), "text": "hijack"}] * 3
    # Replies within the tenant's own route keep working.
    assert post(client, raw(general, "sendMessage", {"text": "ok", "reply_to_message_id": mine}), KEY_1)[0] == 200
    assert tg.bodies("sendMessage")[-1] == {"chat_id": int(GROUP), "text": "ok", "reply_to_message_id": mine}


def test_inline_message_edits_are_refused(client: Any, forum: None, tg: FakeTelegram) -> None:
    status, answer = post(
        client, raw(TOPIC_1, "editMessageText", {"inline_message_id": "BAAAAJk0AAAKPTxQUZ7xbxY", "text": "x"}), KEY_1
    )
    assert (status, answer["code"]) == (403, "ROUTE_NOT_BOUND")
    assert tg.calls() == []


def test_an_inline_id_cannot_smuggle_an_edit_past_the_check(client: Any, forum: None, tg: FakeTelegram) -> None:
    """With both ids, what is checked (message_id) is what is sent: the inline id is dropped."""
    status, sent = post(client, {"channel": "telegram", "sessionKey": TOPIC_1, "text": "mine"}, KEY_1)
    assert status == 200
    mine = int(sent["messageId"])
    body = {"message_id": mine, "inline_message_id": "BAAAAJk0AAAKPTxQUZ7xbxY", "text": "edit"}
    assert post(client, raw(TOPIC_1, "editMessageText", body), KEY_1)[0] == 200
    assert tg.bodies("editMessageText") == [{"message_id": mine, "text": "edit", "chat_id": int(GROUP)}]


def test_create_forum_topic_needs_a_chat_binding(client: Any, forum: None, make_tenant: Any, tg: FakeTelegram) -> None:
    status, answer = post(client, raw(TOPIC_1, "createForumTopic", {"name": "mine now"}), KEY_1)
    assert (status, answer["code"]) == (403, "ROUTE_NOT_BOUND")
    assert tg.calls() == []
    make_tenant("t3", "http://127.0.0.1:9/v1/mux/inbound", "tenant-three-key-0123456789abcd")
    bind_telegram("t3", "-1009990001112")
    tg.on("createForumTopic", {"message_thread_id": 77, "name": "Support", "icon_color": 7322096})
    chat = telegram_session_key("-1009990001112")
    status, answer = post(client, raw(chat, "createForumTopic", {"name": "Support"}), "tenant-three-key-0123456789abcd")
    assert (status, answer["messageId"]) == (200, "77")
    assert tg.bodies("createForumTopic") == [{"name": "Support", "chat_id": -1009990001112}]


def test_records_are_per_tenant_and_expire_after_48_h(client: Any, forum: None, tg: FakeTelegram) -> None:
    now = int(time.time() * 1000)
    topic_2 = telegram_route_key(GROUP, "43")
    messages.record(topic_2, ["501"], "t1", now)  # t1's message from when t1 owned topic 43
    messages.record(topic_2, ["502"], "t2", now - messages.RECORD_TTL_SEC * 1000 - 1000)  # 48 h old
    messages.record(topic_2, ["503"], "t2", now)
    for message_id, status in ((501, 403), (502, 403), (503, 200)):
        body = raw(TOPIC_2, "setMessageReaction", {"message_id": message_id, "reaction": []})
        assert post(client, body, KEY_2)[0] == status, message_id
    assert [b["message_id"] for b in tg.bodies("setMessageReaction")] == [503]
