"""Telegram inbound end to end in-process: webhook → SQS (moto) → worker → fake OpenClaw / fake Telegram."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from tests.fakes.openclaw_server import FakeOpenClaw
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import (
    BOT_TOKEN,
    SECRET,
    dlq_messages,
    drain,
    fixture,
    group_update,
    post_update,
    private_update,
    queue_depth,
)

PAIRED = "Paired successfully. You can chat now."
INVALID = "Pairing link is invalid or expired. Request a new link from your dashboard."
HINT = "This chat is not paired yet. Open your dashboard and use a new pairing link."






def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def new_token(client: Any, key: str, **body: Any) -> dict[str, Any]:
    resp = client.http.post("/v1/pairings/token", headers=auth(key), body=json.dumps({"channel": "telegram", **body}))
    assert resp.status_code == 200, resp.body
    data: dict[str, Any] = json.loads(resp.body)
    return data


def pairings(client: Any, key: str) -> list[dict[str, Any]]:
    resp = client.http.get("/v1/pairings", headers=auth(key))
    assert resp.status_code == 200, resp.body
    items: list[dict[str, Any]] = json.loads(resp.body)["items"]
    return items


def texts_to(tg: FakeTelegram, chat_id: int) -> list[str]:
    return [b["text"] for b in tg.bodies("sendMessage") if b["chat_id"] == chat_id]


def pair_private(client: Any, sqs_event: Any, key: str, chat_id: int, **token_body: Any) -> dict[str, Any]:
    token = new_token(client, key, **token_body)
    assert post_update(client, private_update(chat_id, token["startCommand"])).status_code == 200
    drain(sqs_event)
    return token


def test_token_redeemed_with_start_appears_in_pairings_and_chat_is_forwarded(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw
) -> None:
    _, key = make_tenant("acme", inbound_url=openclaw.url)
    token = new_token(client, key)
    assert token["token"].startswith("mpt_") and len(token["token"]) == 36
    assert token["startCommand"] == f"/start {token['token']}"
    assert token["deepLink"] == f"https://t.me/MuxAssistBot?start={token['token']}"

    assert post_update(client, private_update(5123456789, token["startCommand"])).status_code == 200
    drain(sqs_event)
    items = pairings(client, key)
    assert [(i["routeKey"], i["scope"], i["sessionKeys"]) for i in items] == [
        ("telegram:default:chat:5123456789", "chat", ["agent:main:telegram:direct:5123456789"])
    ]
    assert items[0]["bindingId"].startswith("bind_")
    assert texts_to(tg, 5123456789) == [PAIRED]
    assert openclaw.received == []  # the token message itself is never forwarded

    update = fixture("private_text.json")
    update["message"]["text"] = "  Can you summarise\n the report?  "
    assert post_update(client, update).status_code == 200
    drain(sqs_event)
    assert len(openclaw.received) == 1
    envelope = openclaw.received[0]
    msg = update["message"]
    assert envelope == {
        "eventId": f"tg:{update['update_id']}",
        "channel": "telegram",
        "event": {"kind": "message", "raw": update},
        "raw": update,
        "sessionKey": "agent:main:telegram:direct:5123456789",
        "accountId": "mux",
        "body": "  Can you summarise\n the report?  ",
        "from": "telegram:5123456789",
        "to": "telegram:5123456789",
        "chatType": "direct",
        "messageId": str(msg["message_id"]),
        "timestampMs": msg["date"] * 1000,
        "channelData": {
            "accountId": "mux",
            "messageId": str(msg["message_id"]),
            "chatId": "5123456789",
            "routeKey": "telegram:default:chat:5123456789",
            "telegram": {"media": [], "rawMessage": msg, "updateId": update["update_id"]},
        },
    }
    headers = openclaw.headers[0]
    assert headers["authorization"] == f"Bearer {key}"
    assert headers["x-mux-event-id"] == f"tg:{update['update_id']}"
    assert headers["content-type"] == "application/json; charset=utf-8"


def test_used_token_is_refused_and_after_unbind_nothing_is_forwarded(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw
) -> None:
    _, key = make_tenant("acme", inbound_url=openclaw.url)
    token = pair_private(client, sqs_event, key, 111)
    # The same token from another chat: refused with the invalid notice, nothing bound.
    post_update(client, private_update(222, token["token"]))
    drain(sqs_event)
    assert texts_to(tg, 222) == [INVALID]
    assert len(pairings(client, key)) == 1

    binding_id = pairings(client, key)[0]["bindingId"]
    resp = client.http.post("/v1/pairings/unbind", headers=auth(key), body=json.dumps({"bindingId": binding_id}))
    assert resp.status_code == 200 and json.loads(resp.body) == {"ok": True}
    assert pairings(client, key) == []
    post_update(client, private_update(111, "still there?"))
    drain(sqs_event)
    assert openclaw.received == []
    assert texts_to(tg, 111) == [PAIRED, HINT]
    again = client.http.post("/v1/pairings/unbind", headers=auth(key), body=json.dumps({"bindingId": binding_id}))
    assert again.status_code == 404 and json.loads(again.body)["code"] == "BINDING_NOT_FOUND"


def test_unbind_of_another_tenants_binding_is_404(client: Any, make_tenant: Any, sqs_event: Any, tg: Any) -> None:
    _, key_a = make_tenant("a")
    _, key_b = make_tenant("b")
    pair_private(client, sqs_event, key_a, 333)
    binding_id = pairings(client, key_a)[0]["bindingId"]
    resp = client.http.post("/v1/pairings/unbind", headers=auth(key_b), body=json.dumps({"bindingId": binding_id}))
    assert resp.status_code == 404
    assert len(pairings(client, key_a)) == 1


def test_forum_topics_and_private_threads_get_their_own_session_keys(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw
) -> None:
    from chalicelib.storage import bindings

    _, key = make_tenant("acme", inbound_url=openclaw.url)
    forum = -1002233445566
    token = new_token(client, key)
    post_update(client, group_update(forum, f"/start@MuxAssistBot {token['token']}", topic=42))
    token_general = new_token(client, key)
    general = fixture("forum_general_topic_text.json")
    general["message"]["text"] = token_general["token"]  # a bare token in the General topic
    post_update(client, general)
    drain(sqs_event)
    routes = sorted((i["routeKey"], i["scope"], i["sessionKeys"][0]) for i in pairings(client, key))
    assert routes == [
        (f"telegram:default:chat:{forum}:topic:1", "topic", f"agent:main:telegram:group:{forum}:topic:1"),
        (f"telegram:default:chat:{forum}:topic:42", "topic", f"agent:main:telegram:group:{forum}:topic:42"),
    ]
    # The success notice went to topic 42; the General topic takes no message_thread_id.
    notices = [b for b in tg.bodies("sendMessage") if b["text"] == PAIRED]
    assert sorted(str(b.get("message_thread_id")) for b in notices) == ["42", "None"]

    post_update(client, group_update(forum, "in topic 42", topic=42))
    post_update(client, group_update(forum, "in topic 7", topic=7))  # unpaired topic: group chatter ignored
    drain(sqs_event)
    assert [(e["body"], e["sessionKey"], e.get("threadId")) for e in openclaw.received] == [
        ("in topic 42", f"agent:main:telegram:group:{forum}:topic:42", 42)
    ]
    assert openclaw.received[0]["channelData"]["topicId"] == "42"
    assert openclaw.received[0]["chatType"] == "group"

    # Private chat with topics: one binding for the chat, one session key per thread.
    pair_private(client, sqs_event, key, 444)
    post_update(client, private_update(444, "thread hello", thread=9))
    drain(sqs_event)
    last = openclaw.received[-1]
    assert last["sessionKey"] == "agent:main:telegram:direct:444:thread:9" and last["threadId"] == 9
    route = bindings.session_route("acme", "telegram", "agent:main:telegram:direct:444:thread:9")
    assert route is not None and route["routeKey"] == "telegram:default:chat:444" and route["topicId"] == "9"
    # OpenClaw's answer on that session goes back into that thread; the chat's own session stays unthreaded.
    for session, thread in (("agent:main:telegram:direct:444:thread:9", 9), ("agent:main:telegram:direct:444", None)):
        sent = client.http.post("/v1/mux/outbound/send", headers=auth(key),
                                body=json.dumps({"channel": "telegram", "sessionKey": session, "text": "answer"}))
        assert sent.status_code == 200, sent.body
        last = tg.bodies("sendMessage")[-1]
        assert (last["chat_id"], last.get("message_thread_id")) == (444, thread)


def test_duplicate_update_is_forwarded_once_even_after_the_sqs_dedupe_window(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, aws_env: Any
) -> None:
    import boto3

    from chalicelib.models import QueuedEvent

    _, key = make_tenant("acme", inbound_url=openclaw.url)
    pair_private(client, sqs_event, key, 555)
    update = private_update(555, "once")
    post_update(client, update)
    post_update(client, update)  # Telegram redelivers within the SQS window
    drain(sqs_event)
    # ... and much later (simulated: a fresh SQS deduplication id, as after the 5-minute window).
    event = QueuedEvent(eventId=f"tg:{update['update_id']}", channel="telegram",
                        routeKey="telegram:default:chat:555", receivedAtMs=0, payload=update)
    boto3.client("sqs").send_message(
        QueueUrl=aws_env.inbound_queue_url, MessageBody=event.model_dump_json(),
        MessageGroupId=event.routeKey, MessageDeduplicationId="after-the-window",
    )
    drain(sqs_event)
    assert openclaw.bodies() == ["once"]


def test_openclaw_failing_then_recovering_delivers_every_message_once_in_order(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw
) -> None:
    _, key = make_tenant("acme", inbound_url=openclaw.url)
    pair_private(client, sqs_event, key, 666)
    openclaw.fail_next(2, 503)
    openclaw.fail_next(1, 0)  # connection dropped
    openclaw.fail_next(1, 429)
    for n in range(5):
        post_update(client, private_update(666, f"m{n}"))
    results = drain(sqs_event)
    assert openclaw.bodies() == ["m0", "m1", "m2", "m3", "m4"]
    assert sum(len(r["batchItemFailures"]) for r in results) >= 4  # the retries really happened
    assert dlq_messages() == []


def test_one_tenants_dead_openclaw_does_not_delay_another_tenants_chat(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw
) -> None:
    with FakeOpenClaw() as dead:
        dead.status = 503
        _, key_dead = make_tenant("down", inbound_url=dead.url)
        _, key_ok = make_tenant("up", inbound_url=openclaw.url)
        pair_private(client, sqs_event, key_dead, 701)
        pair_private(client, sqs_event, key_ok, 702)
        post_update(client, private_update(701, "to the dead one"))
        post_update(client, private_update(701, "queued behind it"))
        post_update(client, private_update(702, "to the live one"))
        import app as entry_points

        event = sqs_event()
        assert len(event["Records"]) == 3
        result = entry_points.handle_inbound_queue(event, None)
        # In the very same batch: the live tenant's message is delivered; the dead tenant's chat is held
        # back as a unit (its second message is not even attempted, so its order is kept).
        assert openclaw.bodies() == ["to the live one"]
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        by_body = {json.loads(r["body"])["payload"]["message"]["text"]: r["messageId"] for r in event["Records"]}
        assert failed == {by_body["to the dead one"], by_body["queued behind it"]}


def test_permanent_rejection_goes_to_the_dlq_with_its_reason_and_can_be_redriven(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw,
    admin_headers: dict[str, str], aws_env: Any,
) -> None:
    _, key = make_tenant("acme", inbound_url=openclaw.url)
    pair_private(client, sqs_event, key, 777)
    openclaw.status = 400
    post_update(client, private_update(777, "rejected"))
    results = drain(sqs_event)
    assert len(results) == 1 and results[0]["batchItemFailures"] == []  # not retried
    assert queue_depth(aws_env.inbound_queue_url) == 0
    listed = client.http.get("/v1/admin/dead-letters", headers=admin_headers)
    assert listed.status_code == 200, listed.body
    items = json.loads(listed.body)["items"]
    assert len(items) == 1
    assert items[0]["status"] == 400 and "HTTP 400" in items[0]["reason"]
    assert '{"ok": false}' in items[0]["reason"]  # OpenClaw's answer is kept with the dead letter
    assert items[0]["routeKey"] == "telegram:default:chat:777" and items[0]["eventId"].startswith("tg:")

    openclaw.status = 202
    resp = client.http.post("/v1/admin/dead-letters/redrive", headers=admin_headers, body=json.dumps({"all": True}))
    assert resp.status_code == 200 and json.loads(resp.body)["redriven"] == [items[0]["id"]]
    drain(sqs_event)
    assert openclaw.bodies() == ["rejected"]
    assert json.loads(client.http.get("/v1/admin/dead-letters", headers=admin_headers).body)["items"] == []


def test_retry_budget_exhausted_dead_letters_with_the_last_error(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, configure: Any
) -> None:
    configure(MUX_RETRY_MAX_ATTEMPTS="3")
    _, key = make_tenant("acme", inbound_url=openclaw.url)
    pair_private(client, sqs_event, key, 778)
    openclaw.status = 503
    post_update(client, private_update(778, "never delivered"))
    drain(sqs_event)
    dead = dlq_messages()
    assert len(dead) == 1
    reason = dead[0]["MessageAttributes"]["muxReason"]["StringValue"]
    assert "retry budget exhausted after 3 attempts" in reason and "HTTP 503" in reason


def test_disabled_tenant_is_not_forwarded_and_is_retried(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw,
    admin_headers: dict[str, str], configure: Any,
) -> None:
    configure(MUX_RETRY_MAX_ATTEMPTS="2")
    _, key = make_tenant("acme", inbound_url=openclaw.url)
    pair_private(client, sqs_event, key, 779)
    assert client.http.post("/v1/admin/tenants/acme/disable", headers=admin_headers).status_code == 200
    post_update(client, private_update(779, "while disabled"))
    results = drain(sqs_event)
    assert openclaw.received == []
    assert results[0]["batchItemFailures"]  # retried first, not dropped
    assert "tenant is disabled" in dlq_messages()[0]["MessageAttributes"]["muxReason"]["StringValue"]


def test_forged_secret_is_401_and_nothing_is_queued(client: Any, tg: FakeTelegram, aws_env: Any) -> None:
    for secret in ("wrong", ""):
        resp = post_update(client, private_update(1, "hi"), secret=secret)
        assert resp.status_code == 401
        assert json.loads(resp.body)["code"] == "UNAUTHORIZED"
    assert queue_depth(aws_env.inbound_queue_url) == 0


def test_webhook_acks_unhandled_updates_and_rejects_bad_json(client: Any, tg: FakeTelegram, aws_env: Any) -> None:
    resp = post_update(client, fixture("my_chat_member.json"))
    assert resp.status_code == 200 and json.loads(resp.body)["ignored"] is True
    bad = client.http.post("/v1/webhooks/telegram", body="{not json",
                           headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert bad.status_code == 400 and json.loads(bad.body)["code"] == "INVALID_JSON"
    assert queue_depth(aws_env.inbound_queue_url) == 0


def test_two_chats_racing_one_token_get_exactly_one_binding(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both claimants read the token as valid, then both commit. DynamoDB serialises conflicting
    transactions; moto in-process does not lock, so the test serialises the two commits itself — after
    both have passed every read — and the claim's conditions must let exactly one win."""
    from chalicelib.models import QueuedEvent
    from chalicelib.services import inbound
    from chalicelib.storage import bindings

    _, key = make_tenant("acme")
    token = new_token(client, key)["token"]
    events = [
        QueuedEvent(eventId=f"tg:{u['update_id']}", channel="telegram", routeKey=f"telegram:default:chat:{c}",
                    receivedAtMs=0, payload=u)
        for c, u in ((801, private_update(801, f"/start {token}")), (802, private_update(802, f"/start {token}")))
    ]
    both_read = threading.Barrier(2)
    commit = threading.Lock()
    original = bindings.claim

    def racing_claim(**kwargs: Any) -> Any:
        both_read.wait(5)
        with commit:
            return original(**kwargs)

    monkeypatch.setattr(bindings, "claim", racing_claim)
    outcomes: list[str] = []
    threads = [threading.Thread(target=lambda e=e: outcomes.append(inbound.process(e, 1))) for e in events]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(outcomes) == ["claim_refused", "claimed"]
    assert len(pairings(client, key)) == 1
    assert sorted(texts_to(tg, 801) + texts_to(tg, 802)) == sorted([INVALID, PAIRED])


def test_route_bound_to_another_tenant_cannot_be_claimed(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram
) -> None:
    _, key_a = make_tenant("a")
    _, key_b = make_tenant("b")
    pair_private(client, sqs_event, key_a, 901)
    token_b = new_token(client, key_b)
    post_update(client, private_update(901, token_b["startCommand"]))
    drain(sqs_event)
    assert pairings(client, key_b) == []
    assert texts_to(tg, 901)[-1] == INVALID
    # The refused claim left B's token usable elsewhere.
    post_update(client, private_update(902, token_b["startCommand"]))
    drain(sqs_event)
    assert [i["routeKey"] for i in pairings(client, key_b)] == ["telegram:default:chat:902"]


def test_callback_query_is_forwarded_as_callback_and_answered(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw
) -> None:
    update = fixture("callback_query.json")
    chat_id = update["callback_query"]["message"]["chat"]["id"]
    _, key = make_tenant("acme", inbound_url=openclaw.url)
    pair_private(client, sqs_event, key, chat_id)
    post_update(client, update)
    drain(sqs_event)
    env = openclaw.received[-1]
    cq = update["callback_query"]
    assert env["eventId"] == f"tgcb:{update['update_id']}"
    assert env["event"] == {"kind": "callback", "raw": update}
    assert env["body"] == cq["data"]
    tgdata = env["channelData"]["telegram"]
    assert tgdata["callbackData"] == cq["data"]
    assert tgdata["callbackQueryId"] == cq["id"]
    assert tgdata["callbackMessageId"] == cq["message"]["message_id"]
    assert [b["callback_query_id"] for b in tg.bodies("answerCallbackQuery")] == [cq["id"]]


def test_bot_commands_are_answered_and_never_forwarded(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw
) -> None:
    _, key = make_tenant("acme", inbound_url=openclaw.url)
    group = -100555
    token = new_token(client, key)
    post_update(client, group_update(group, f"/start@MuxAssistBot {token['token']}"))
    post_update(client, group_update(group, "/bot_status"))
    post_update(client, group_update(group, "!bot_help@MuxAssistBot"))
    post_update(client, group_update(group, "/bot_sessions"))
    post_update(client, group_update(group, "/bot_use agent:main:telegram:direct:1"))
    tg.chat_member_status = "member"
    post_update(client, group_update(group, "/bot_unpair"))
    drain(sqs_event)
    sent = texts_to(tg, group)
    assert sent[0] == PAIRED
    assert sent[1].startswith("Status: paired.") and f"agent:main:telegram:group:{group}" in sent[1]
    assert sent[2].startswith("Commands:")
    assert sent[3] == (f"Sessions this chat can use (/bot_use <number or name>):\n"
                       f"1. main: agent:main:telegram:group:{group} (current)")
    assert sent[4] == "Only chat administrators can do that."  # /bot_use by a member
    assert sent[5] == "Only chat administrators can do that."
    assert len(pairings(client, key)) == 1
    tg.chat_member_status = "administrator"
    post_update(client, group_update(group, "/bot_unpair"))
    drain(sqs_event)
    assert pairings(client, key) == []
    assert openclaw.received == []
    assert tg.bodies("getChatMember")[-1]["chat_id"] == group


def test_bot_switch_moves_the_chat_to_another_tenant(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram
) -> None:
    _, key_a = make_tenant("a")
    _, key_b = make_tenant("b")
    pair_private(client, sqs_event, key_a, 990)
    token_b = new_token(client, key_b)
    post_update(client, private_update(990, f"/bot_switch {token_b['token']}"))
    drain(sqs_event)
    assert pairings(client, key_a) == []
    assert [i["routeKey"] for i in pairings(client, key_b)] == ["telegram:default:chat:990"]


def test_unpaired_private_chat_gets_a_hint_but_group_chatter_is_ignored(
    client: Any, sqs_event: Any, tg: FakeTelegram, aws_env: Any
) -> None:
    post_update(client, private_update(1201, "hello?"))
    post_update(client, group_update(-1001202, "just chatting"))
    post_update(client, group_update(-1001203, "/help"))
    drain(sqs_event)
    assert texts_to(tg, 1201) == [HINT]
    assert texts_to(tg, -1001202) == []
    assert texts_to(tg, -1001203) == [HINT]


def test_photo_is_described_and_inlined_as_base64(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw
) -> None:
    import base64

    update = fixture("photo.json")
    chat_id = update["message"]["chat"]["id"]
    photo = update["message"]["photo"][-1]
    image = b"\x89PNG fake image bytes"
    tg.files[f"photos/{photo['file_id']}.jpg"] = image
    tg.on("getFile", lambda body: {"file_id": body["file_id"], "file_size": len(image),
                                   "file_path": f"photos/{body['file_id']}.jpg"})
    _, key = make_tenant("acme", inbound_url=openclaw.url)
    if chat_id < 0:
        token = new_token(client, key)
        post_update(client, group_update(chat_id, token["token"]))
        drain(sqs_event)
    else:
        pair_private(client, sqs_event, key, chat_id)
    post_update(client, update)
    drain(sqs_event)
    env = openclaw.received[-1]
    assert env["body"] == update["message"].get("caption", "")
    media = env["channelData"]["telegram"]["media"]
    assert media[0]["type"] == "image" and media[0]["fileId"] == photo["file_id"]
    (attachment,) = env["attachments"]
    assert attachment["type"] == "image" and attachment["mimeType"] == "image/jpeg"
    assert base64.b64decode(attachment["content"]) == image
    assert attachment["url"].endswith(f"/v1/mux/files/telegram?id={photo['file_id']}")
    # The file proxy serves it to this tenant only.
    from urllib.parse import quote

    path = f"/v1/mux/files/telegram?id={quote(photo['file_id'])}"
    got = client.http.get(path, headers={"Authorization": f"Bearer {key}", "Accept": "*/*"})
    assert got.status_code == 200, got.body
    assert got.body == image
    _, other_key = make_tenant("other")
    denied = client.http.get(path, headers={"Authorization": f"Bearer {other_key}"})
    assert denied.status_code == 404 and json.loads(denied.body)["code"] == "FILE_NOT_FOUND"
    missing = client.http.get("/v1/mux/files/telegram", headers={"Authorization": f"Bearer {key}"})
    assert missing.status_code == 400


def test_token_ttl_is_clamped_and_agent_id_and_session_key_shape_the_binding(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw
) -> None:
    import time

    from chalicelib.storage import bindings

    _, key = make_tenant("acme", inbound_url=openclaw.url)
    before = int(time.time() * 1000)
    long = new_token(client, key, ttlSec=999_999)
    assert before + 3_600_000 <= long["expiresAtMs"] <= int(time.time() * 1000) + 3_600_000
    short = new_token(client, key, ttlSec=-5)
    assert short["expiresAtMs"] <= int(time.time() * 1000) + 1000

    pair_private(client, sqs_event, key, 1301, agentId="ops")
    pair_private(client, sqs_event, key, 1302, sessionKey="agent:main:main")
    keys = {i["routeKey"]: i["sessionKeys"] for i in pairings(client, key)}
    assert keys["telegram:default:chat:1301"] == ["agent:ops:telegram:direct:1301"]
    assert keys["telegram:default:chat:1302"] == ["agent:main:main"]
    post_update(client, private_update(1302, "via the shared session"))
    drain(sqs_event)
    assert openclaw.received[-1]["sessionKey"] == "agent:main:main"
    route = bindings.session_route("acme", "telegram", "agent:main:main")
    assert route is not None and route["chatId"] == "1302"


def test_pairings_are_paginated_newest_first(client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram) -> None:
    _, key = make_tenant("acme")
    for chat in (1401, 1402, 1403):
        pair_private(client, sqs_event, key, chat)
    first = json.loads(client.http.get("/v1/pairings?limit=2", headers=auth(key)).body)
    assert [i["routeKey"][-4:] for i in first["items"]] == ["1403", "1402"]
    assert first["nextCursor"]
    second = json.loads(
        client.http.get(f"/v1/pairings?limit=2&cursor={first['nextCursor']}", headers=auth(key)).body
    )
    assert [i["routeKey"][-4:] for i in second["items"]] == ["1401"]
    assert second["nextCursor"] is None
    bad = client.http.get("/v1/pairings?cursor=garbage", headers=auth(key))
    assert bad.status_code == 400 and json.loads(bad.body)["code"] == "INVALID_CURSOR"
    assert client.http.get("/v1/pairings?limit=0", headers=auth(key)).status_code == 400
    assert client.http.get("/v1/pairings", headers=auth("wrong-key-0123456789abcdef")).status_code == 401


def test_pairing_token_errors(client: Any, make_tenant: Any, configure: Any) -> None:
    _, key = make_tenant("acme")
    resp = client.http.post("/v1/pairings/token", headers=auth(key), body=json.dumps({"channel": "telegram"}))
    assert resp.status_code == 400 and json.loads(resp.body)["code"] == "CHANNEL_DISABLED"  # no bot token
    configure(TELEGRAM_BOT_TOKEN=BOT_TOKEN, MUX_TELEGRAM_WEBHOOK_SECRET=SECRET)
    for body, field in (({"channel": "sms"}, "channel"), ({}, "channel"), ({"channel": "telegram", "x": 1}, "x")):
        resp = client.http.post("/v1/pairings/token", headers=auth(key), body=json.dumps(body))
        data = json.loads(resp.body)
        assert resp.status_code == 400 and data["code"] == "INVALID_REQUEST" and field in data["details"]["fields"]
    resp = client.http.post("/v1/pairings/token", headers=auth(key), body=json.dumps({"channel": "discord"}))
    assert resp.status_code == 400 and json.loads(resp.body)["code"] == "CHANNEL_DISABLED"


def test_a_slow_tenant_does_not_hold_up_another_chat_in_the_same_batch(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw
) -> None:
    import app as entry_points

    with FakeOpenClaw() as slow:
        _, key_slow = make_tenant("slow", inbound_url=slow.url)
        _, key_fast = make_tenant("fast", inbound_url=openclaw.url)
        pair_private(client, sqs_event, key_slow, 1501)
        pair_private(client, sqs_event, key_fast, 1502)
        post_update(client, private_update(1501, "to the slow one"))  # first in the batch
        post_update(client, private_update(1502, "to the fast one"))
        slow.gate = threading.Event()
        event = sqs_event()
        assert len(event["Records"]) == 2
        results: list[dict[str, Any]] = []
        worker = threading.Thread(target=lambda: results.append(entry_points.handle_inbound_queue(event, None)))
        worker.start()
        try:
            # Delivered while the slow tenant's OpenClaw is still holding its request open.
            assert openclaw.wait_for(lambda got: len(got) == 1, timeout=10)
            assert slow.received == []
        finally:
            slow.gate.set()
            worker.join(20)
        assert results == [{"batchItemFailures": []}]
        assert slow.bodies() == ["to the slow one"] and openclaw.bodies() == ["to the fast one"]


def test_a_forward_that_could_outlast_the_invocation_is_deferred_not_attempted(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, aws_env: Any
) -> None:
    from chalicelib.services import worker

    _, key = make_tenant("acme", inbound_url=openclaw.url, inboundTimeoutMs=5000)
    pair_private(client, sqs_event, key, 1601)
    post_update(client, private_update(1601, "late"))
    post_update(client, private_update(1601, "later"))
    event = sqs_event()
    result = worker.handle_batch(event, time_left_ms=lambda: 6000)  # < 5 s timeout + margin
    assert len(result["batchItemFailures"]) == 2 and openclaw.received == []
    again = sqs_event()  # released at once, in order, for the next invocation
    assert [json.loads(r["body"])["payload"]["message"]["text"] for r in again["Records"]] == ["late", "later"]
    assert worker.handle_batch(again, time_left_ms=lambda: 60_000) == {"batchItemFailures": []}
    assert openclaw.bodies() == ["late", "later"]
    assert dlq_messages() == []


def test_rotated_and_disabled_keys_fail_on_every_tenant_route(
    client: Any, make_tenant: Any, admin_headers: dict[str, str], tg: FakeTelegram
) -> None:
    _, old_key = make_tenant("acme")
    _, new_key = make_tenant("acme", api_key="acme-rotated-key-0123456789abcdef")
    routes = (
        ("GET", "/v1/pairings", None),
        ("GET", "/v1/mux/sessions", None),
        ("POST", "/v1/pairings/token", {"channel": "telegram"}),
        ("POST", "/v1/mux/outbound/send", {"channel": "telegram", "sessionKey": "s", "text": "x"}),
        ("GET", "/v1/tenant/inbound-target", None),
    )

    def statuses(key: str) -> list[int]:
        out = []
        for method, path, body in routes:
            resp = client.http.request(method, path, headers=auth(key), body=json.dumps(body).encode() if body else b"")
            out.append(resp.status_code)
        return out

    assert statuses(old_key) == [401] * len(routes)
    assert 401 not in statuses(new_key)
    assert client.http.post("/v1/admin/tenants/acme/disable", headers=admin_headers).status_code == 200
    assert statuses(new_key) == [401] * len(routes)
