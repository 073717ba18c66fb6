"""A tenant's OpenClaw down, then back: at the worker, with moto in-process, a fake OpenClaw on 127.0.0.1 with
an outage switch, and Lambda-shaped SQS events (probe interval 1 s, backoff from 1 s: real seconds)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.fakes.openclaw_server import FakeOpenClaw
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import dlq_messages, drain, post_update, private_update, queue_url_from_arn
from tests.localstack import wait_until


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def pair(client: Any, sqs_event: Any, key: str, chat_id: int) -> None:
    resp = client.http.post("/v1/pairings/token", headers=auth(key), body=json.dumps({"channel": "telegram"}))
    post_update(client, private_update(chat_id, json.loads(resp.body)["startCommand"]))
    drain(sqs_event)


def pump(sqs_event: Any) -> int:
    """One receive → the real queue entry point → delete what it did not fail (Lambda's ESM, once)."""
    import boto3

    import app as entry_points

    event = sqs_event()
    if not event["Records"]:
        return 0
    result = entry_points.handle_inbound_queue(event, None)
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    url = queue_url_from_arn(event["Records"][0]["eventSourceARN"])
    for record in event["Records"]:
        if record["messageId"] not in failed:
            boto3.client("sqs").delete_message(QueueUrl=url, ReceiptHandle=record["receiptHandle"])
    return len(event["Records"])


_BASELINE: dict[str, int] = {}


def counter(name: str) -> int:
    """This test's count of a metric (the process-local counters add up over the whole session)."""
    from chalicelib import observability

    return observability.counters().get(name, 0) - _BASELINE.get(name, 0)


@pytest.fixture(autouse=True)
def _counter_baseline() -> None:
    from chalicelib import observability

    _BASELINE.clear()
    _BASELINE.update(observability.counters())


def health_item(tenant_id: str) -> dict[str, Any] | None:
    from chalicelib.storage import table

    return table.get(table.tenant_health_key(tenant_id))


def setup_down_tenant(client: Any, make_tenant: Any, sqs_event: Any, openclaw: FakeOpenClaw, configure: Any,
                      chats: list[int]) -> None:
    configure(MUX_PROBE_INTERVAL_SEC="1", MUX_RETRY_BASE_DELAY_SEC="1", MUX_RETRY_MAX_DELAY_SEC="30")
    _, key = make_tenant("acme", inbound_url=openclaw.url)
    for chat in chats:
        pair(client, sqs_event, key, chat)
    openclaw.status = 503


def test_a_down_tenant_is_probed_by_one_message_and_its_other_chats_are_parked(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, configure: Any
) -> None:
    """Four chats of a down tenant: after the first failure, only one message per probe interval reaches the
    tenant (before: every chat's head on its own backoff, 1, 2, 4 s … each)."""
    chats = [2101, 2102, 2103, 2104]
    setup_down_tenant(client, make_tenant, sqs_event, openclaw, configure, chats)
    post_update(client, private_update(chats[0], "first"))
    pump(sqs_event)
    assert len(openclaw.attempts) == 1
    for chat in chats[1:]:
        post_update(client, private_update(chat, f"head {chat}"))
    pump(sqs_event)
    assert len(openclaw.attempts) == 1  # the other heads were parked, not tried
    assert counter("Parked") == 3
    item = health_item("acme")
    assert item is not None and len(item["parked"]) == 4  # the three heads and the prober
    started = time.monotonic()
    while time.monotonic() - started < 2.5:
        pump(sqs_event)
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    probes = len(openclaw.attempts) - 1
    # One probe per second per tenant (the probe interval), however many chats are down.
    assert 2 <= probes <= int(elapsed) + 1, openclaw.attempts
    assert counter("Probes") == probes
    assert dlq_messages() == []


def test_on_recovery_every_parked_head_is_released_at_once_and_delivered_in_chat_order(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, configure: Any
) -> None:
    chats = [2201, 2202, 2203]
    setup_down_tenant(client, make_tenant, sqs_event, openclaw, configure, chats)
    post_update(client, private_update(chats[0], "a1"))
    pump(sqs_event)
    for text, chat in (("b1", chats[1]), ("c1", chats[2]), ("b2", chats[1]), ("a2", chats[0]), ("c2", chats[2])):
        post_update(client, private_update(chat, text))
    pump(sqs_event)
    assert openclaw.bodies() == [] and len(openclaw.attempts) == 1
    openclaw.status = 202
    recovered = time.monotonic()
    wait_until(lambda: pump(sqs_event) >= 0 and len(openclaw.received) == 6, timeout=4,
               what="the backlog after recovery")
    lag = time.monotonic() - recovered
    # The next probe (≤ 1 s) releases everything; before: each chat's next backoff step (up to 8 s here).
    assert lag < 2.5, lag
    got = openclaw.bodies()
    for chat_texts in (["a1", "a2"], ["b1", "b2"], ["c1", "c2"]):
        assert [t for t in got if t in chat_texts] == chat_texts
    assert counter("Released") >= 2  # b1 and c1 (a1 was the probe itself)
    assert health_item("acme") is None
    assert dlq_messages() == []


def test_probes_ahead_of_a_messages_own_backoff_do_not_use_its_budget(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, configure: Any
) -> None:
    """One chat, budget 2, backoff 6 s: probing every second charges the message only on its own schedule, so
    three attempts before its second charged attempt is due (at 6 s) do not dead-letter it early; then it is
    delivered. (It stops pumping once three attempts were seen: a loaded machine may need more than 3 s.)"""
    setup_down_tenant(client, make_tenant, sqs_event, openclaw, configure, [2301])
    configure(MUX_RETRY_MAX_ATTEMPTS="2", MUX_RETRY_BASE_DELAY_SEC="6")
    post_update(client, private_update(2301, "patient"))
    started = time.monotonic()
    while time.monotonic() - started < 5.5 and len(openclaw.attempts) < 3:
        pump(sqs_event)
        time.sleep(0.05)
    assert len(openclaw.attempts) >= 3  # probed about every second …
    assert dlq_messages() == []  # … yet within its budget
    openclaw.status = 202
    wait_until(lambda: pump(sqs_event) >= 0 and openclaw.bodies() == ["patient"], timeout=3, what="delivery")
    assert dlq_messages() == []


def test_a_healthy_tenant_reads_no_health_item_and_is_not_held_by_another_tenants_outage(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, configure: Any
) -> None:
    from chalicelib import aws

    setup_down_tenant(client, make_tenant, sqs_event, openclaw, configure, [2401])
    with FakeOpenClaw() as healthy:
        _, other = make_tenant("beta", inbound_url=healthy.url)
        pair(client, sqs_event, other, 2402)
        post_update(client, private_update(2401, "down"))
        pump(sqs_event)
        keys: list[str] = []

        def record(params: dict[str, Any], **_: Any) -> None:
            # Every item read: a GetItem's Key, or each key of a BatchGetItem (where the tenant now rides).
            named = [params.get("Key") or {}]
            for request in (params.get("RequestItems") or {}).values():
                named += request.get("Keys", []) if isinstance(request, dict) else []
            keys.extend(str(v.get("S", "")) for body in named for k, v in body.items() if k == "pk")

        dynamodb = aws.dynamodb()
        dynamodb.meta.events.register("provide-client-params.dynamodb.*", record)
        try:
            for n in range(3):
                post_update(client, private_update(2402, f"fine {n}"))
                pump(sqs_event)
        finally:
            dynamodb.meta.events.unregister("provide-client-params.dynamodb.*", record)
        assert healthy.bodies() == ["fine 0", "fine 1", "fine 2"]
        assert "TENANTHEALTH#beta" not in keys  # the steady state costs nothing extra
        assert keys.count("TENANT#beta") == 3  # one tenant read per message, as before (in its batch now)
        assert openclaw.bodies() == []


def test_beyond_the_items_cap_a_head_falls_back_to_its_own_backoff_and_is_not_lost(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, configure: Any,
    monkeypatch: Any,
) -> None:
    from chalicelib.storage import health

    monkeypatch.setattr(health, "MAX_PARKED", 1)  # the prober's own entry fills it
    chats = [2501, 2502, 2503]
    setup_down_tenant(client, make_tenant, sqs_event, openclaw, configure, chats)
    post_update(client, private_update(chats[0], "prober"))
    pump(sqs_event)
    for chat in chats[1:]:
        post_update(client, private_update(chat, f"over cap {chat}"))
    pump(sqs_event)
    assert len(openclaw.attempts) == 3 and counter("Parked") == 0  # tried, as before this feature
    item = health_item("acme")
    assert item is not None and len(item["parked"]) == 1
    openclaw.status = 202
    wait_until(lambda: pump(sqs_event) >= 0 and len(openclaw.received) == 3, timeout=5, what="all three")
    assert dlq_messages() == []


def test_a_message_failing_again_after_its_tenant_recovered_keeps_its_own_backoff(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, configure: Any
) -> None:
    """A message that fails on its own while its tenant answers others must not park the other chats again
    (nor be retried at every release): after the recovery its failure marks nothing."""
    chats = [2601, 2602]
    setup_down_tenant(client, make_tenant, sqs_event, openclaw, configure, chats)
    configure(MUX_RETRY_MAX_DELAY_SEC="1")
    openclaw.status = 202
    openclaw.fail_next(2, 503)  # P's first attempt and its probe
    post_update(client, private_update(chats[0], "P"))
    pump(sqs_event)
    post_update(client, private_update(chats[1], "X"))
    pump(sqs_event)
    assert counter("Parked") == 1
    wait_until(lambda: pump(sqs_event) >= 0 and openclaw.bodies() == ["X"], timeout=15, what="X, the next probe")
    assert health_item("acme") is None  # released
    openclaw.fail_next(1, 503)
    wait_until(lambda: pump(sqs_event) >= 0 and len(openclaw.attempts) == 4, timeout=15, what="P again")
    assert health_item("acme") is None  # P's own failure marked nothing …
    post_update(client, private_update(chats[1], "X2"))
    pump(sqs_event)
    assert openclaw.bodies() == ["X", "X2"]  # … so the other chat goes on at once
    wait_until(lambda: pump(sqs_event) >= 0 and "P" in openclaw.bodies(), timeout=15, what="P at its backoff")
    assert dlq_messages() == []


def test_a_tenant_not_heard_from_lately_gets_one_first_contact_so_its_outage_costs_one_attempt_not_one_per_chat(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, configure: Any
) -> None:
    """Four chats' heads in one batch (forwarded in parallel groups): the first contact goes alone; its failure
    marks the tenant down before the others wake, so they are parked, not tried (before: four attempts)."""
    chats = [2701, 2702, 2703, 2704]
    setup_down_tenant(client, make_tenant, sqs_event, openclaw, configure, chats)
    for chat in chats:
        post_update(client, private_update(chat, f"head {chat}"))
    assert pump(sqs_event) == 4
    assert len(openclaw.attempts) == 1, openclaw.attempts
    assert counter("Parked") == 3
    openclaw.status = 202
    wait_until(lambda: pump(sqs_event) >= 0 and len(openclaw.received) == 4, timeout=5, what="all four heads")
    assert dlq_messages() == []


def test_an_answering_tenant_is_forwarded_to_in_parallel_with_no_first_contact_wait(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, configure: Any
) -> None:
    """Once the tenant answered, three chats' heads are all in flight at the same time (the fake holds every
    answer until released), and a first contact that answers lets the waiting heads go in the same batch."""
    import threading

    chats = [2801, 2802, 2803]
    setup_down_tenant(client, make_tenant, sqs_event, openclaw, configure, chats)
    openclaw.status = 202
    for chat in chats:  # not heard from yet: one first contact, then the other two at once
        post_update(client, private_update(chat, f"first {chat}"))
    assert pump(sqs_event) == 3
    assert len(openclaw.received) == 3 and counter("Parked") == 0
    hold = threading.Event()
    openclaw.gate = hold
    for chat in chats:
        post_update(client, private_update(chat, f"second {chat}"))
    worker = threading.Thread(target=pump, args=(sqs_event,))
    worker.start()
    try:
        assert openclaw.wait_for_arrivals(6, timeout=10), openclaw.arrivals  # all three held at once
    finally:
        hold.set()
        worker.join(15)
    assert sorted(openclaw.bodies()[3:]) == sorted(f"second {chat}" for chat in chats)
