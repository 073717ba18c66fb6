"""Control-plane events (CONTRACT §13): what each change emits, delivered through the real events queue and its
consumer to a receiver on 127.0.0.1 that verifies every signature with the tenant's key; retries after the
receiver's outage, the budget's dead letter, no event for another tenant, the SSRF guard, and a broken events
queue never failing a claim."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import REGION
from tests.fakes.events_receiver import EventsReceiver
from tests.fakes.openclaw_server import FakeOpenClaw
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import drain, group_update, post_update, private_update, queue_depth
from tests.localstack import wait_until


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


@pytest.fixture
def receiver() -> Any:
    with EventsReceiver() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fast_event_retries(configure: Any) -> None:
    configure(MUX_EVENTS_RETRY_BASE_DELAY_SEC="0", MUX_EVENTS_FAILING_AFTER_SEC="0")


def events_url(aws_env: Any) -> str:
    return str(aws_env.env["MUX_EVENTS_QUEUE_URL"])


def pump_events(aws_env: Any, rounds: int = 20) -> int:
    """Receive → the real `handle_events_queue` entry point → delete what it did not fail (Lambda's ESM), until
    the queue is empty (retries here have zero backoff). Returns the number of records handled."""
    import app as entry_points
    from local.poller import lambda_sqs_event

    sqs = boto3.client("sqs", region_name=REGION)
    url = events_url(aws_env)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    handled = 0
    for _ in range(rounds):
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            break
        event = lambda_sqs_event(messages, arn, REGION)
        result = entry_points.handle_events_queue(event, None)
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for record in event["Records"]:
            if record["messageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=record["receiptHandle"])
        handled += len(messages)
    return handled


def tenant_with_events(make_tenant: Any, receiver: EventsReceiver, tenant_id: str, inbound: str) -> str:
    _, key = make_tenant(tenant_id, inbound_url=inbound, eventsUrl=receiver.url)
    receiver.keys[tenant_id] = key
    return key


def token(client: Any, key: str) -> dict[str, Any]:
    resp = client.http.post("/v1/pairings/token", headers=auth(key), body=json.dumps({"channel": "telegram"}))
    assert resp.status_code == 200, resp.body
    return dict(resp.json_body)


def pair(client: Any, sqs_event: Any, key: str, chat_id: int) -> dict[str, Any]:
    minted = token(client, key)
    post_update(client, private_update(chat_id, minted["startCommand"]))
    drain(sqs_event)
    return minted


def bindings(client: Any, key: str) -> list[dict[str, Any]]:
    return list(client.http.get("/v1/pairings", headers=auth(key)).json_body["items"])


def counter(name: str) -> int:
    from chalicelib import observability

    return observability.counters().get(name, 0)


# --- bootstrap -------------------------------------------------------------------------------------
def test_events_url_is_shown_kept_when_omitted_and_removed_with_null(
    client: Any, admin_headers: dict[str, str], make_tenant: Any
) -> None:
    _, key = make_tenant("acme", eventsUrl="https://cp.example.com/mux-events")
    shown = client.http.get("/v1/admin/tenants/acme", headers=admin_headers).json_body
    assert shown["eventsUrl"] == "https://cp.example.com/mux-events"
    body = {"tenantId": "acme", "apiKey": key, "inboundUrl": "http://127.0.0.1:9/v1/mux/inbound"}
    kept = client.http.post("/v1/admin/tenants/bootstrap", headers=admin_headers, body=json.dumps(body)).json_body
    assert kept["eventsUrl"] == "https://cp.example.com/mux-events"
    cleared = client.http.post(
        "/v1/admin/tenants/bootstrap", headers=admin_headers, body=json.dumps({**body, "eventsUrl": None})
    ).json_body
    assert cleared["eventsUrl"] is None
    assert client.http.get("/v1/admin/tenants/acme", headers=admin_headers).json_body["eventsUrl"] is None
    for bad in ("ftp://cp.example.com/x", "not a url", "https://user:pw@cp.example.com/x"):
        resp = client.http.post(
            "/v1/admin/tenants/bootstrap", headers=admin_headers, body=json.dumps({**body, "eventsUrl": bad})
        )
        assert resp.status_code == 400 and resp.json_body["code"] == "INVALID_EVENTS_URL", (bad, resp.body)
        assert "eventsUrl" in resp.json_body["error"]


def test_events_url_on_a_private_address_is_refused_when_the_guard_is_on(
    client: Any, admin_headers: dict[str, str], configure: Any
) -> None:
    configure(MUX_ALLOW_PRIVATE_INBOUND_URLS="false")
    body = {"tenantId": "acme", "apiKey": "acme-key-0123456789abcdefghij", "inboundUrl": "https://93.184.216.34/in"}
    for private in ("http://127.0.0.1:8080/events", "http://10.1.2.3/events", "http://169.254.169.254/latest",
                    "http://localhost/events", "http://[::ffff:127.0.0.1]/events"):
        resp = client.http.post(
            "/v1/admin/tenants/bootstrap", headers=admin_headers, body=json.dumps({**body, "eventsUrl": private})
        )
        assert resp.status_code == 400, (private, resp.body)
        assert resp.json_body["code"] == "EVENTS_URL_NOT_ALLOWED", private
    ok = client.http.post("/v1/admin/tenants/bootstrap", headers=admin_headers,
                          body=json.dumps({**body, "eventsUrl": "https://93.184.216.34/events"}))
    assert ok.status_code == 200, ok.body


def test_a_delivery_to_a_private_address_is_refused_at_connect_time(
    client: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, make_tenant: Any,
    receiver: EventsReceiver, configure: Any, aws_env: Any,
) -> None:
    """Saved while private targets were allowed (or a name that resolved publicly then): the guard on the
    address actually connected to refuses it, nothing reaches the receiver, and the event is retried."""
    key = tenant_with_events(make_tenant, receiver, "acme", openclaw.url)
    pair(client, sqs_event, key, 4101)
    configure(MUX_ALLOW_PRIVATE_INBOUND_URLS="false", MUX_EVENTS_MAX_ATTEMPTS="3")
    before = counter("EventDeliveryFailures{status=none}")
    pump_events(aws_env)
    assert receiver.attempts == []
    assert counter("EventDeliveryFailures{status=none}") - before == 3
    dead = _events_dead_letters()
    assert len(dead) == 1 and "not allowed" in dead[0]["MessageAttributes"]["muxReason"]["StringValue"]


# --- each event type -------------------------------------------------------------------------------
def test_a_claim_emits_binding_created_signed_with_the_tenant_key(
    client: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, make_tenant: Any,
    receiver: EventsReceiver, aws_env: Any,
) -> None:
    key = tenant_with_events(make_tenant, receiver, "acme", openclaw.url)
    minted = pair(client, sqs_event, key, 4201)
    assert pump_events(aws_env) == 1
    (created,) = receiver.events
    assert receiver.rejected == []
    (bound,) = bindings(client, key)
    assert set(created) == {"eventId", "type", "tenantId", "createdAtMs", "data"}
    assert created["type"] == "binding.created" and created["tenantId"] == "acme"
    assert created["eventId"].startswith("evt_")
    data = created["data"]
    assert data["bindingId"] == bound["bindingId"] and data["routeKey"] == "telegram:default:chat:4201"
    assert data["tokenId"] == minted["tokenId"]
    assert data["sessionKeys"] == ["agent:main:telegram:direct:4201"] and data["channel"] == "telegram"
    assert "userName" in data and "displayName" in data
    raw = receiver.raw[0][1].decode()
    assert minted["token"] not in raw and key not in raw
    headers = receiver.raw[0][0]
    assert headers["X-Mux-Event-Type"] == "binding.created" and headers["X-Mux-Event-Id"] == created["eventId"]
    assert {"X-Mux-Timestamp", "X-Mux-Signature"} <= set(headers)
    assert "Authorization" not in headers and headers["Content-Type"] == "application/json; charset=utf-8"


def test_unbind_chat_command_switch_and_tenant_delete_emit_binding_removed_with_their_reason(
    client: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, make_tenant: Any,
    receiver: EventsReceiver, admin_headers: dict[str, str], aws_env: Any,
) -> None:
    key_a = tenant_with_events(make_tenant, receiver, "alpha", openclaw.url)
    key_b = tenant_with_events(make_tenant, receiver, "beta", openclaw.url)
    for chat in (4301, 4302, 4303, 4304):
        pair(client, sqs_event, key_a, chat)
    by_route = {b["routeKey"]: b["bindingId"] for b in bindings(client, key_a)}
    # By the API.
    resp = client.http.post("/v1/pairings/unbind", headers=auth(key_a),
                            body=json.dumps({"bindingId": by_route["telegram:default:chat:4301"]}))
    assert resp.status_code == 200
    # By a chat command.
    post_update(client, private_update(4302, "/bot_unpair"))
    # By /bot_switch to another tenant: removed for alpha, created for beta.
    post_update(client, private_update(4303, f"/bot_switch {token(client, key_b)['token']}"))
    drain(sqs_event)
    # By the tenant's delete (its record is gone when the consumer runs).
    assert client.http.delete("/v1/admin/tenants/alpha", headers=admin_headers).status_code == 200
    pump_events(aws_env)
    assert receiver.rejected == []
    removed = {e["data"]["routeKey"]: e for e in receiver.of_type("binding.removed")}
    assert {r: e["data"]["reason"] for r, e in removed.items()} == {
        "telegram:default:chat:4301": "api",
        "telegram:default:chat:4302": "chat_command",
        "telegram:default:chat:4303": "switched",
        "telegram:default:chat:4304": "tenant_deleted",
    }
    for route, event in removed.items():
        assert event["tenantId"] == "alpha" and event["data"]["bindingId"] == by_route[route]
    beta_created = [e for e in receiver.of_type("binding.created") if e["tenantId"] == "beta"]
    assert [e["data"]["routeKey"] for e in beta_created] == ["telegram:default:chat:4303"]


def test_dead_letters_of_a_tenants_messages_emit_message_dead_lettered_without_content(
    client: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, make_tenant: Any,
    receiver: EventsReceiver, configure: Any, aws_env: Any,
) -> None:
    configure(MUX_RETRY_MAX_ATTEMPTS="2")
    key = tenant_with_events(make_tenant, receiver, "acme", openclaw.url)
    pair(client, sqs_event, key, 4401)
    (bound,) = bindings(client, key)
    openclaw.status = 400  # a permanent rejection
    openclaw.error_text = "refused: secret words in the message"
    rejected = private_update(4401, "secret words in the message")
    post_update(client, rejected)
    drain(sqs_event)
    openclaw.status = 503  # retried until the budget (2 attempts) is used
    exhausted = private_update(4401, "more secret words")
    post_update(client, exhausted)
    drain(sqs_event)
    pump_events(aws_env)
    dead = {e["data"]["eventId"]: e for e in receiver.of_type("message.dead_lettered")}
    assert set(dead) == {f"tg:{rejected['update_id']}", f"tg:{exhausted['update_id']}"}
    first = dead[f"tg:{rejected['update_id']}"]["data"]
    assert first == {
        "eventId": f"tg:{rejected['update_id']}", "channel": "telegram", "routeKey": "telegram:default:chat:4401",
        "bindingId": bound["bindingId"], "status": 400, "reason": "OpenClaw answered HTTP 400", "kind": "rejected",
        "attempts": 1,
    }
    second = dead[f"tg:{exhausted['update_id']}"]["data"]
    assert second["kind"] == "budget" and second["status"] == 503 and second["attempts"] == 2
    assert "retry budget exhausted" in second["reason"]
    for _, raw in receiver.raw:
        assert b"secret words" not in raw


def test_an_outage_emits_delivery_failing_once_and_delivery_recovered_once(
    client: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, make_tenant: Any,
    receiver: EventsReceiver, configure: Any, aws_env: Any,
) -> None:
    key = tenant_with_events(make_tenant, receiver, "acme", openclaw.url)
    for chat in (4501, 4502):
        pair(client, sqs_event, key, chat)
    openclaw.status = 503
    for chat in (4501, 4502, 4501):
        post_update(client, private_update(chat, f"while down {chat}"))
    # Several failed probes of one outage (probe interval 0 in tests); polled, since a parked message comes
    # back only when its visibility ends.
    wait_until(lambda: drain(sqs_event, max_rounds=1) is not None and len(openclaw.attempts) >= 3, 15,
               "three failed attempts")
    assert len(openclaw.attempts) >= 3
    openclaw.status = 202
    wait_until(lambda: drain(sqs_event) is not None and len(openclaw.received) >= 3, 15, "the backlog delivered")
    assert len(openclaw.received) == 3
    pump_events(aws_env)
    (failing,) = receiver.of_type("delivery.failing")
    (recovered,) = receiver.of_type("delivery.recovered")
    assert failing["tenantId"] == recovered["tenantId"] == "acme"
    assert failing["data"]["downSinceMs"] == recovered["data"]["downSinceMs"]
    assert recovered["data"]["downForMs"] >= 0 and failing["data"]["failingForMs"] >= 0
    assert recovered["createdAtMs"] >= failing["createdAtMs"]


def test_a_short_outage_below_the_threshold_emits_nothing(
    client: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, make_tenant: Any,
    receiver: EventsReceiver, configure: Any, aws_env: Any,
) -> None:
    configure(MUX_EVENTS_FAILING_AFTER_SEC="600")
    key = tenant_with_events(make_tenant, receiver, "acme", openclaw.url)
    pair(client, sqs_event, key, 4601)
    pump_events(aws_env)
    openclaw.status = 503
    post_update(client, private_update(4601, "while down"))
    drain(sqs_event, max_rounds=3)
    openclaw.status = 202
    drain(sqs_event)
    assert openclaw.bodies() == ["while down"]
    pump_events(aws_env)
    assert [e["type"] for e in receiver.events] == ["binding.created"]


# --- delivery ---------------------------------------------------------------------------------------
def test_events_are_retried_through_the_receivers_outage_and_delivered_once_it_ends(
    client: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, make_tenant: Any,
    receiver: EventsReceiver, aws_env: Any,
) -> None:
    key = tenant_with_events(make_tenant, receiver, "acme", openclaw.url)
    receiver.fail_next(4, 503)
    for chat in (4701, 4702):
        pair(client, sqs_event, key, chat)
    before = counter("EventDeliveryFailures{status=503}")
    pump_events(aws_env)
    created = receiver.of_type("binding.created")
    routes = sorted(e["data"]["routeKey"] for e in created)
    assert routes == ["telegram:default:chat:4701", "telegram:default:chat:4702"]
    assert len(receiver.attempts) == 6  # four refused, then each delivered once
    assert counter("EventDeliveryFailures{status=503}") - before == 4
    assert queue_depth(events_url(aws_env)) == 0 and _events_dead_letters() == []


def test_an_event_refused_for_its_whole_budget_rests_in_the_events_dead_letter_queue(
    client: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, make_tenant: Any,
    receiver: EventsReceiver, configure: Any, aws_env: Any, admin_headers: dict[str, str],
) -> None:
    configure(MUX_EVENTS_MAX_ATTEMPTS="3")
    key = tenant_with_events(make_tenant, receiver, "acme", openclaw.url)
    receiver.fail_next(10, 500)
    pair(client, sqs_event, key, 4801)
    pump_events(aws_env)
    assert len(receiver.attempts) == 3 and receiver.events == []
    (dead,) = _events_dead_letters()
    attrs = dead["MessageAttributes"]
    assert attrs["muxStatus"]["StringValue"] == "500" and attrs["muxAttempts"]["StringValue"] == "3"
    assert json.loads(dead["Body"])["event"]["type"] == "binding.created"
    queues = client.http.get("/v1/admin/health", headers=admin_headers).json_body["queues"]
    assert queues["eventsDeadLetter"]["visible"] == 1 and queues["events"]["visible"] == 0


def test_another_tenants_activity_sends_nothing(
    client: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, make_tenant: Any,
    receiver: EventsReceiver, configure: Any, aws_env: Any,
) -> None:
    configure(MUX_RETRY_MAX_ATTEMPTS="1")
    key_a = tenant_with_events(make_tenant, receiver, "alpha", openclaw.url)
    with FakeOpenClaw() as other:
        _, key_b = make_tenant("beta", inbound_url=other.url)  # no eventsUrl
        pair(client, sqs_event, key_a, 4901)
        pump_events(aws_env)
        assert len(receiver.events) == 1
        pair(client, sqs_event, key_b, 4902)
        (bound_b,) = bindings(client, key_b)
        post_update(client, group_update(-4903, f"/start {token(client, key_b)['token']}"))
        drain(sqs_event)
        other.status = 400
        post_update(client, private_update(4902, "refused"))
        drain(sqs_event)
        unbind = json.dumps({"bindingId": bound_b["bindingId"]})
        assert client.http.post("/v1/pairings/unbind", headers=auth(key_b), body=unbind).status_code == 200
        assert queue_depth(events_url(aws_env)) == 0  # not even queued: beta has no events URL
        pump_events(aws_env)
    assert len(receiver.events) == 1 and len(receiver.attempts) == 1
    seen = json.dumps(receiver.events)
    assert "beta" not in seen and "4902" not in seen and "4903" not in seen and bound_b["bindingId"] not in seen


def test_a_failing_events_queue_never_fails_a_claim(
    client: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, make_tenant: Any,
    receiver: EventsReceiver, configure: Any, aws_env: Any,
) -> None:
    key = tenant_with_events(make_tenant, receiver, "acme", openclaw.url)
    broken = events_url(aws_env).rsplit("/", 1)[0] + "/no-such-queue"
    configure(MUX_EVENTS_QUEUE_URL=broken)
    before = counter("EventEmitFailures{type=binding.created}")
    pair(client, sqs_event, key, 5001)
    assert [b["routeKey"] for b in bindings(client, key)] == ["telegram:default:chat:5001"]
    sent = [b["text"] for b in tg.bodies("sendMessage") if str(b.get("chat_id")) == "5001"]
    assert sent == ["Paired successfully. You can chat now."]
    assert counter("EventEmitFailures{type=binding.created}") - before == 1
    post_update(client, private_update(5001, "after the claim"))
    drain(sqs_event)
    assert openclaw.bodies() == ["after the claim"]


def test_events_follow_a_key_rotation_and_stop_when_the_url_is_removed(
    client: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, make_tenant: Any,
    receiver: EventsReceiver, admin_headers: dict[str, str], aws_env: Any,
) -> None:
    key = tenant_with_events(make_tenant, receiver, "acme", openclaw.url)
    pair(client, sqs_event, key, 5101)  # queued, signed at delivery: with the key current then
    rotated = "acme-rotated-key-0123456789abcdef"
    body = {"tenantId": "acme", "apiKey": rotated, "inboundUrl": openclaw.url}
    resp = client.http.post("/v1/admin/tenants/bootstrap", headers=admin_headers, body=json.dumps(body))
    assert resp.status_code == 200
    receiver.keys["acme"] = rotated
    pump_events(aws_env)
    assert [e["type"] for e in receiver.events] == ["binding.created"] and receiver.rejected == []
    pair(client, sqs_event, rotated, 5102)
    client.http.post("/v1/admin/tenants/bootstrap", headers=admin_headers, body=json.dumps({**body, "eventsUrl": None}))
    before = counter("EventsDropped{reason=no_events_url}")
    pump_events(aws_env)
    assert len(receiver.events) == 1
    assert counter("EventsDropped{reason=no_events_url}") - before == 1


def readme_snippet() -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("**Verifying a delivery**", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found is not None
    return found.group(1)


def test_the_readme_verification_snippet_accepts_a_real_delivery_and_refuses_forgeries(
    client: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, make_tenant: Any,
    receiver: EventsReceiver, aws_env: Any,
) -> None:
    key = tenant_with_events(make_tenant, receiver, "acme", openclaw.url)
    pair(client, sqs_event, key, 5201)
    pump_events(aws_env)
    ((headers, raw),) = receiver.raw
    namespace: dict[str, Any] = {}
    exec(compile(readme_snippet(), "README.md", "exec"), namespace)  # noqa: S102 - the README's own snippet
    verify = namespace["verify_mux_event"]
    assert len(readme_snippet().strip().splitlines()) <= 14
    assert verify(key, headers, raw) is True
    assert verify("another-tenants-key-0123456789ab", headers, raw) is False
    assert verify(key, headers, raw.replace(b"5201", b"5202")) is False
    assert verify(key, {**headers, "X-Mux-Signature": "0" * 64}, raw) is False
    assert verify(key, {k: v for k, v in headers.items() if k != "X-Mux-Timestamp"}, raw) is False
    stale = str(int(time.time()) - 301)
    resigned = hmac.new(key.encode(), stale.encode() + b"." + raw, hashlib.sha256).hexdigest()
    assert verify(key, {**headers, "X-Mux-Timestamp": stale, "X-Mux-Signature": resigned}, raw) is False
    fresh = str(int(time.time()) - 5)
    resigned = hmac.new(key.encode(), fresh.encode() + b"." + raw, hashlib.sha256).hexdigest()
    assert verify(key, {**headers, "X-Mux-Timestamp": fresh, "X-Mux-Signature": resigned}, raw) is True


def _events_dead_letters() -> list[dict[str, Any]]:
    from chalicelib.config import get_settings

    resp = boto3.client("sqs", region_name=REGION).receive_message(
        QueueUrl=get_settings().events_dead_letter_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0,
        MessageAttributeNames=["All"],
    )
    return list(resp.get("Messages", []))


def test_a_tenant_delete_failing_half_way_still_reports_the_bindings_it_removed(
    client: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, make_tenant: Any,
    receiver: EventsReceiver, admin_headers: dict[str, str], aws_env: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chalicelib.storage import table

    key = tenant_with_events(make_tenant, receiver, "alpha", openclaw.url)
    for chat in (4401, 4402):
        pair(client, sqs_event, key, chat)
    real_transact = table.transact
    route_deletes: list[int] = []

    def transact(items: Any, *args: Any, **kwargs: Any) -> Any:
        if any(i.get("Put", {}).get("Item", {}).get("type") == "routegone" for i in items):
            route_deletes.append(1)
            if len(route_deletes) == 2:
                raise RuntimeError("throttled")  # not a conditional failure: the delete stops half-way
        return real_transact(items, *args, **kwargs)

    monkeypatch.setattr(table, "transact", transact)
    assert client.http.delete("/v1/admin/tenants/alpha", headers=admin_headers).status_code >= 500
    monkeypatch.setattr(table, "transact", real_transact)
    assert client.http.delete("/v1/admin/tenants/alpha", headers=admin_headers).status_code == 200
    pump_events(aws_env)
    removed = {e["data"]["routeKey"]: e["data"]["reason"] for e in receiver.of_type("binding.removed")}
    assert removed == {"telegram:default:chat:4401": "tenant_deleted", "telegram:default:chat:4402": "tenant_deleted"}
