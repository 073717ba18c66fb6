"""Authentic Telegram input that can never be processed: answered 200, counted, never queued (issue 9 #6);
and the worker never repeats a callback answer when a dead letter is redriven."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import observability
from tests.fakes.openclaw_server import FakeOpenClaw
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import SECRET, dlq_messages, drain, fixture, post_update, private_update, queue_depth


def raw_post(client: Any, body: str) -> Any:
    return client.http.post(
        "/v1/webhooks/telegram",
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
        body=body,
    )


def unusable_count() -> int:
    return sum(v for k, v in observability.counters().items() if k.startswith("UpdatesUnusable"))


DEEP_900 = '{"update_id": 5, "message": {"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"}, ' \
           '"text": "hi", "reply_markup": ' + "[" * 900 + "]" * 900 + "}}"
DEEP_5000 = '{"update_id": 6, "x": ' + "[" * 5000 + "]" * 5000 + "}"


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({**fixture("private_text.json"), "message": {**fixture("private_text.json")["message"],
                                                                "date": [1]}}),
        DEEP_900,
        DEEP_5000,
        json.dumps(fixture("private_text.json")).replace('"text": "', '"text": "\\ud800', 1),
        json.dumps({**fixture("private_text.json"), "update_id": "845120001"}),
        json.dumps({**fixture("private_text.json"), "message": {**fixture("private_text.json")["message"],
                                                                "text": "x" * 300_000}}),
    ],
    ids=["date-list", "900-deep", "5000-deep", "lone-surrogate", "update-id-string", "over-queue-limit"],
)
def test_unusable_update_is_acknowledged_counted_and_never_queued(
    client: Any, tg: FakeTelegram, aws_env: Any, configure: Any, body: str
) -> None:
    configure(MUX_MAX_BODY_BYTES=str(1_048_576))
    before = unusable_count()
    resp = raw_post(client, body)
    assert resp.status_code == 200, resp.body
    assert json.loads(resp.body) == {"ok": True, "ignored": True}
    assert unusable_count() == before + 1
    assert queue_depth(aws_env.inbound_queue_url) == 0


def test_a_redriven_callback_is_not_answered_to_telegram_again(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw,
    admin_headers: dict[str, str],
) -> None:
    update = fixture("callback_query.json")
    chat_id = update["callback_query"]["message"]["chat"]["id"]
    _, key = make_tenant("acme", inbound_url=openclaw.url)
    token = client.http.post("/v1/pairings/token", body=json.dumps({"channel": "telegram"}),
                             headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    pair = private_update(chat_id, json.loads(token.body)["startCommand"])
    if chat_id < 0:
        pair["message"]["chat"] = update["callback_query"]["message"]["chat"]
    post_update(client, pair)
    drain(sqs_event)
    openclaw.status = 400  # a permanent refusal: straight to the dead letters
    post_update(client, update)
    drain(sqs_event)
    assert len(dlq_messages()) == 1
    assert len(tg.bodies("answerCallbackQuery")) == 1
    openclaw.status = 202
    redrive = client.http.post("/v1/admin/dead-letters/redrive", headers=admin_headers,
                               body=json.dumps({"all": True}))
    assert redrive.status_code == 200, redrive.body
    drain(sqs_event)
    assert [e["eventId"] for e in openclaw.received] == [f"tgcb:{update['update_id']}"]
    assert len(tg.bodies("answerCallbackQuery")) == 1


def test_a_service_message_of_a_bound_chat_is_recorded_as_handled_and_not_forwarded(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw
) -> None:
    from chalicelib.storage import events, table

    _, key = make_tenant("acme", inbound_url=openclaw.url)
    token = client.http.post("/v1/pairings/token", body=json.dumps({"channel": "telegram"}),
                             headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    post_update(client, private_update(777, json.loads(token.body)["startCommand"]))
    drain(sqs_event)
    update = private_update(777, "")
    del update["message"]["text"]
    update["message"]["pinned_message"] = {"message_id": 1, "date": 1, "chat": {"id": 777, "type": "private"},
                                           "text": "pinned text"}
    assert post_update(client, update).status_code == 200
    drain(sqs_event)
    assert openclaw.received == [] and openclaw.refused == [] and dlq_messages() == []
    record = table.get(events.key(f"tg:{update['update_id']}"))
    assert record is not None and record["outcome"] == "not_forwarded"


def test_a_queued_event_that_does_not_parse_is_finished_not_retried(
    client: Any, sqs_event: Any, tg: FakeTelegram, aws_env: Any
) -> None:
    """Events queued before the webhook validated completely: the worker counts them and moves on."""
    from chalicelib.models import QueuedEvent
    from chalicelib.queue import enqueue

    bad = fixture("private_text.json")
    bad["message"]["date"] = [1]
    enqueue(QueuedEvent(eventId="tg:1", channel="telegram", routeKey="telegram:default:chat:1", receivedAtMs=1,
                        payload=bad))
    results = drain(sqs_event)
    assert results[0]["batchItemFailures"] == []
    assert queue_depth(aws_env.inbound_queue_url) == 0 and dlq_messages() == []


def test_a_callback_without_data_is_answered_and_not_forwarded(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw
) -> None:
    update = fixture("callback_query.json")
    chat_id = update["callback_query"]["message"]["chat"]["id"]
    del update["callback_query"]["data"]
    _, key = make_tenant("acme", inbound_url=openclaw.url)
    token = client.http.post("/v1/pairings/token", body=json.dumps({"channel": "telegram"}),
                             headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    post_update(client, private_update(chat_id, json.loads(token.body)["startCommand"]))
    drain(sqs_event)
    post_update(client, update)
    drain(sqs_event)
    assert openclaw.received == [] and openclaw.refused == [] and dlq_messages() == []
    assert [b["callback_query_id"] for b in tg.bodies("answerCallbackQuery")] == [update["callback_query"]["id"]]
