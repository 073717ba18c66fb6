"""Inbound retries at the worker: attempts per message (not per receive), the budget, which of OpenClaw's
answers are permanent, and a claim retried after a crash. moto in-process, fake OpenClaw and Telegram on
127.0.0.1, Lambda-shaped SQS events (retries in tests have zero backoff)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.fakes.openclaw_server import FakeOpenClaw
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import dlq_messages, drain, post_update, private_update

PAIRED = "Paired successfully. You can chat now."
INVALID = "Pairing link is invalid or expired. Request a new link from your dashboard."


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def new_token(client: Any, key: str) -> dict[str, Any]:
    resp = client.http.post("/v1/pairings/token", headers=auth(key), body=json.dumps({"channel": "telegram"}))
    assert resp.status_code == 200, resp.body
    data: dict[str, Any] = json.loads(resp.body)
    return data


def pair(client: Any, sqs_event: Any, key: str, chat_id: int) -> None:
    post_update(client, private_update(chat_id, new_token(client, key)["startCommand"]))
    drain(sqs_event)


def texts_to(tg: FakeTelegram, chat_id: int) -> list[str]:
    return [b["text"] for b in tg.bodies("sendMessage") if b["chat_id"] == chat_id]


def counter_delta(before: dict[str, int], name: str) -> int:
    from chalicelib import observability

    return observability.counters().get(name, 0) - before.get(name, 0)


def dead_letter_summaries() -> list[tuple[str, str, str]]:
    """(text, muxAttempts, muxStatus) of every dead letter."""
    out = []
    for m in dlq_messages():
        attrs = m["MessageAttributes"]
        out.append((
            json.loads(m["Body"])["payload"]["message"]["text"],
            attrs["muxAttempts"]["StringValue"],
            attrs.get("muxStatus", {}).get("StringValue", ""),
        ))
    return out


def attempt_items() -> list[dict[str, Any]]:
    import boto3

    from chalicelib.config import get_settings

    resp = boto3.client("dynamodb").scan(TableName=get_settings().table_name)
    return [i for i in resp["Items"] if i["pk"]["S"].startswith("ATTEMPTS#")]


def test_messages_held_back_behind_a_failing_head_keep_their_whole_budget(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, configure: Any
) -> None:
    """A chat with three queued messages and a flapping OpenClaw: the head needs the whole budget; the two
    behind it, received with it on every try but never tried, still get theirs (before: the 2nd and 3rd
    were dead-lettered after one real attempt each)."""
    configure(MUX_RETRY_MAX_ATTEMPTS="4")
    _, key = make_tenant("acme", inbound_url=openclaw.url)
    pair(client, sqs_event, key, 1301)
    for status in (503, 503, 503, 202, 503, 202, 503, 202):
        openclaw.fail_next(1, status)
    for n in range(3):
        post_update(client, private_update(1301, f"m{n}"))
    drain(sqs_event)
    assert openclaw.bodies() == ["m0", "m1", "m2"]
    assert dlq_messages() == []
    assert len(openclaw.attempts) == 8  # 4 + 2 + 2 real attempts, no more


def test_a_message_delivered_at_once_costs_no_attempt_counter(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw
) -> None:
    _, key = make_tenant("acme", inbound_url=openclaw.url)
    pair(client, sqs_event, key, 1302)
    post_update(client, private_update(1302, "fine"))
    drain(sqs_event)
    assert openclaw.bodies() == ["fine"]
    assert attempt_items() == []  # the success path writes nothing extra


@pytest.mark.parametrize(("receives", "age_hours"), [(25, 0), (2, 3)], ids=["received-often", "old"])
def test_a_long_wait_behind_an_outage_is_not_an_attempt(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, receives: int,
    age_hours: int,
) -> None:
    """A message that waited behind its chat's failing head (received many times, or for hours, never
    tried) fails its first real attempt: it is retried, not dead-lettered (before: the receive count and the
    age rule each dead-lettered it)."""
    import app as entry_points

    _, key = make_tenant("acme", inbound_url=openclaw.url)
    pair(client, sqs_event, key, 1303)
    post_update(client, private_update(1303, "waited long"))
    event = sqs_event()
    (record,) = event["Records"]
    record["attributes"]["ApproximateReceiveCount"] = str(receives)
    record["attributes"]["SentTimestamp"] = str(int((time.time() - age_hours * 3600) * 1000))
    openclaw.fail_next(1, 503)
    result = entry_points.handle_inbound_queue(event, None)
    assert result["batchItemFailures"] == [{"itemIdentifier": record["messageId"]}]
    assert dlq_messages() == []
    drain(sqs_event)
    assert openclaw.bodies() == ["waited long"]


def test_budget_is_exactly_max_attempts_and_the_chat_then_goes_on(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, configure: Any
) -> None:
    configure(MUX_RETRY_MAX_ATTEMPTS="5")
    _, key = make_tenant("acme", inbound_url=openclaw.url)
    pair(client, sqs_event, key, 1304)
    openclaw.fail_next(5, 500)
    openclaw.fail_next(1, 503)  # the next message fails once too: it has its own full budget
    updates = [private_update(1304, text) for text in ("poison", "after 1", "after 2")]
    for update in updates:
        post_update(client, update)
    drain(sqs_event)
    assert dead_letter_summaries() == [("poison", "5", "500")]
    reason = dlq_messages()[0]["MessageAttributes"]["muxReason"]["StringValue"]
    assert "retry budget exhausted after 5 attempts" in reason and "HTTP 500" in reason
    assert openclaw.attempts.count(f"tg:{updates[0]['update_id']}") == 5
    assert openclaw.bodies() == ["after 1", "after 2"]


def test_an_attempt_that_never_finished_is_charged(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, configure: Any
) -> None:
    """A message that keeps crashing the worker (its attempts never report back) is dead-lettered by the
    budget instead of blocking its chat until the queue's redrive."""
    import app as entry_points
    from chalicelib.clock import now_ms
    from chalicelib.storage import events

    configure(MUX_RETRY_MAX_ATTEMPTS="3")
    _, key = make_tenant("acme", inbound_url=openclaw.url)
    pair(client, sqs_event, key, 1305)
    post_update(client, private_update(1305, "crashes the worker"))
    event = sqs_event()
    (record,) = event["Records"]
    for _ in range(3):  # three earlier receives counted their attempt, then the worker died each time
        events.count_attempt(record["messageId"], now_ms())
    record["attributes"]["ApproximateReceiveCount"] = "4"
    result = entry_points.handle_inbound_queue(event, None)
    assert result["batchItemFailures"] == []
    assert openclaw.attempts == []
    (dead,) = dlq_messages()
    assert "did not finish" in dead["MessageAttributes"]["muxReason"]["StringValue"]


PERMANENT = (400, 413, 415, 422)
RETRIED = (401, 403, 404, 408, 409, 429, 500, 502, 503, 504, 302, 0)  # 0: connection dropped


def test_only_400_413_415_422_are_permanent_and_failures_are_counted_by_status(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw
) -> None:
    from chalicelib import observability

    _, key = make_tenant("acme", inbound_url=openclaw.url)
    pair(client, sqs_event, key, 1306)
    before = observability.counters()
    for status in PERMANENT + RETRIED:
        openclaw.fail_next(1, status)
        post_update(client, private_update(1306, f"answered {status}"))
        drain(sqs_event)
    assert openclaw.bodies() == [f"answered {s}" for s in RETRIED]
    assert sorted(dead_letter_summaries()) == sorted((f"answered {s}", "1", str(s)) for s in PERMANENT)
    for status, dimension in ((401, "401"), (404, "404"), (0, "none"), (302, "3xx"), (400, "400")):
        assert counter_delta(before, f"ForwardFailures{{channel=telegram,status={dimension}}}") == 1, status


def test_a_tenant_answering_401_then_404_then_202_loses_nothing(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw
) -> None:
    """Mid key rotation (401), then mid configuration (404): retried, and all arrive in order once it answers."""
    from chalicelib import observability

    _, key = make_tenant("acme", inbound_url=openclaw.url)
    pair(client, sqs_event, key, 1307)
    before = observability.counters()
    openclaw.fail_next(3, 401)
    openclaw.fail_next(3, 404)
    for n in range(3):
        post_update(client, private_update(1307, f"r{n}"))
    drain(sqs_event)
    assert openclaw.bodies() == ["r0", "r1", "r2"]
    assert dlq_messages() == []
    assert counter_delta(before, "ForwardFailures{channel=telegram,status=401}") == 3
    assert counter_delta(before, "ForwardFailures{channel=telegram,status=404}") == 3
    assert counter_delta(before, "DeadLettered{channel=telegram,reason=rejected}") == 0


def test_claim_retried_after_a_crash_before_its_dedupe_record_answers_success(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.storage import events

    _, key = make_tenant("acme")
    original = events.mark_handled
    crashes = []

    def crash_once_after_the_claim(event_id: str, outcome: str, *args: Any, **kwargs: Any) -> None:
        if outcome == "claimed" and not crashes:
            crashes.append(event_id)
            raise RuntimeError("worker died after the claim committed")
        original(event_id, outcome, *args, **kwargs)

    monkeypatch.setattr(events, "mark_handled", crash_once_after_the_claim)
    token = new_token(client, key)
    post_update(client, private_update(1308, token["startCommand"]))
    results = drain(sqs_event)
    assert crashes and len(results) >= 2  # the crash happened and the same queued event was reprocessed
    assert texts_to(tg, 1308) == [PAIRED, PAIRED]  # never "invalid" after pairing worked
    listed = json.loads(client.http.get("/v1/pairings", headers=auth(key)).body)["items"]
    assert [i["routeKey"] for i in listed] == ["telegram:default:chat:1308"]
    # The token stays one-time: another chat (another event) still gets the invalid notice.
    post_update(client, private_update(1309, token["startCommand"]))
    drain(sqs_event)
    assert texts_to(tg, 1309) == [INVALID]


def test_without_the_attempt_counter_a_failure_is_retried_not_lost(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw,
    monkeypatch: pytest.MonkeyPatch, configure: Any,
) -> None:
    from chalicelib.storage import events

    configure(MUX_RETRY_MAX_ATTEMPTS="1")
    _, key = make_tenant("acme", inbound_url=openclaw.url)
    pair(client, sqs_event, key, 1310)

    def unavailable(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("DynamoDB throttled")

    monkeypatch.setattr(events, "count_attempt", unavailable)
    openclaw.fail_next(2, 503)
    post_update(client, private_update(1310, "counter down"))
    drain(sqs_event)
    assert openclaw.bodies() == ["counter down"]  # retried uncharged (a budget of 1 would have dead-lettered)
    assert dlq_messages() == []


def test_queue_redrive_cannot_dead_letter_a_held_back_message_before_its_budget() -> None:
    """A message is received with every attempt of each of up to 9 messages ahead of it in its batch
    window, then has its own budget: SQS's maxReceiveCount must stay above that."""
    from chalicelib.config import Settings
    from local.provision import load_template

    policy = load_template()["Resources"]["InboundQueue"]["Properties"]["RedrivePolicy"]
    default_budget = Settings().retry_max_attempts
    assert policy["maxReceiveCount"] >= 10 * default_budget
