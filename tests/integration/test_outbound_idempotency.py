"""Idempotency-Key on outbound sends: replay, reuse with another body, in-flight duplicates, expiry, 5xx release."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from chalicelib.errors import MuxError
from chalicelib.services import outbound
from chalicelib.services import tenants as tenant_service
from chalicelib.storage import idempotency, table
from tests.fakes.pairing import bind_telegram, telegram_session_key
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import fixture

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "telegram"
DM = "5123456789"
KEY_1 = "tenant-one-key-0123456789abcdef"
KEY_2 = "tenant-two-key-0123456789abcdef"
SEND = "/v1/mux/outbound/send"




@pytest.fixture
def bound(make_tenant: Any, tg: FakeTelegram) -> str:
    make_tenant("t1", "http://127.0.0.1:9/v1/mux/inbound", KEY_1)
    bind_telegram("t1", DM)
    return telegram_session_key(DM)


def body(session_key: str, text: str = "hello") -> dict[str, Any]:
    return {"channel": "telegram", "sessionKey": session_key, "text": text, "requestId": "r-1"}


def post(
    client: Any, data: dict[str, Any], idem: str | None, key: str = KEY_1, path: str = SEND
) -> tuple[int, str, dict[str, str]]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    if idem is not None:
        headers["Idempotency-Key"] = idem
    resp = client.http.post(path, headers=headers, body=json.dumps(data))
    return resp.status_code, resp.body.decode() if isinstance(resp.body, bytes) else resp.body, dict(resp.headers)


def record(tenant_id: str, key: str) -> dict[str, Any] | None:
    return table.get(table.idempotency_key(tenant_id, table.sha256_hex(key)))


def test_replay_returns_the_same_answer_and_telegram_sees_one_call(client: Any, bound: str, tg: FakeTelegram) -> None:
    first = post(client, body(bound), "k-1")
    second = post(client, body(bound), "k-1")
    assert first[0] == second[0] == 200
    assert first[1] == second[1]  # byte for byte
    assert json.loads(second[1])["messageId"] == "1000"
    assert second[2].get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first[2]
    assert len(tg.calls("sendMessage")) == 1


def test_stored_record(client: Any, bound: str, tg: FakeTelegram) -> None:
    before = time.time()
    status, text, _ = post(client, body(bound), "k-rec")
    item = record("t1", "k-rec")
    assert item is not None
    assert item["status"] == "done"
    assert item["responseStatus"] == status == 200
    assert json.loads(item["responseBody"]) == json.loads(text)
    assert item["bodyHash"] == table.sha256_hex(outbound.canonical_json(body(bound)))
    ttl_sec = 600  # MUX_IDEMPOTENCY_TTL_MS default
    assert before + ttl_sec - 2 <= item["expiresAt"] <= time.time() + ttl_sec + 2


def test_same_key_with_another_body_is_409(client: Any, bound: str, tg: FakeTelegram) -> None:
    assert post(client, body(bound, "one"), "k-2")[0] == 200
    status, text, _ = post(client, body(bound, "two"), "k-2")
    assert status == 409
    assert json.loads(text)["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert [b["text"] for b in tg.bodies("sendMessage")] == ["one"]


def test_keys_are_per_tenant(client: Any, make_tenant: Any, bound: str, tg: FakeTelegram) -> None:
    make_tenant("t2", "http://127.0.0.1:9/v1/mux/inbound", KEY_2)
    bind_telegram("t2", "777", session_key="agent:main:telegram:direct:777")
    assert post(client, body(bound), "shared")[0] == 200
    assert post(client, body("agent:main:telegram:direct:777"), "shared", key=KEY_2)[0] == 200
    assert sorted(b["chat_id"] for b in tg.bodies("sendMessage")) == [777, int(DM)]


def test_a_duplicate_in_flight_is_409(client: Any, bound: str, tg: FakeTelegram) -> None:
    """While Telegram is handling the first request, the same request arrives again."""
    tenant = tenant_service.get("t1")
    duplicate: list[tuple[int, str]] = []

    def answer_while_duplicate_arrives(request_body: dict[str, Any]) -> dict[str, Any]:
        try:
            outcome = outbound.send(tenant.tenant_id, body(bound), idempotency_key="k-3")
            duplicate.append((outcome.status, str(outcome.body.get("code"))))
        except MuxError as exc:
            duplicate.append((exc.status, exc.code))
        return {"ok": True, "result": tg.message(request_body)}

    tg.script("sendMessage", answer_while_duplicate_arrives)
    status, _, _ = post(client, body(bound), "k-3")
    assert status == 200
    assert duplicate == [(409, "IDEMPOTENCY_IN_PROGRESS")]
    assert len(tg.calls("sendMessage")) == 1


def test_a_crashed_attempt_does_not_block_the_key_forever(client: Any, bound: str, tg: FakeTelegram) -> None:
    data = body(bound)
    body_hash = table.sha256_hex(outbound.canonical_json(data))
    long_ago = int(time.time() * 1000) - outbound.IDEMPOTENCY_LOCK_MS - 1000
    claimed = idempotency.claim(
        "t1", table.sha256_hex("k-4"), body_hash, now_ms=long_ago, ttl_ms=600_000, lock_ms=outbound.IDEMPOTENCY_LOCK_MS
    )
    assert isinstance(claimed, idempotency.Claim)  # ... and that attempt never finished
    status, _, _ = post(client, data, "k-4")
    assert status == 200
    assert len(tg.calls("sendMessage")) == 1
    item = record("t1", "k-4")
    assert item is not None and item["status"] == "done"
    # The crashed attempt's late bookkeeping cannot clobber the new record.
    assert idempotency.release(claimed) is False
    assert record("t1", "k-4") is not None


def test_an_expired_record_is_treated_as_absent(client: Any, bound: str, tg: FakeTelegram) -> None:
    data = body(bound)
    body_hash = table.sha256_hex(outbound.canonical_json(data))
    long_ago = int(time.time() * 1000) - 3_600_000
    claimed = idempotency.claim("t1", table.sha256_hex("k-5"), "other-body", now_ms=long_ago, ttl_ms=1000, lock_ms=1)
    assert isinstance(claimed, idempotency.Claim)
    idempotency.finish(claimed, 200, '{"ok":true,"messageId":"old"}')
    status, text, _ = post(client, data, "k-5")
    assert status == 200 and json.loads(text)["messageId"] == "1000"
    assert len(tg.calls("sendMessage")) == 1
    item = record("t1", "k-5")
    assert item is not None and item["bodyHash"] == body_hash


def test_a_provider_failure_is_not_stored_so_a_retry_sends(client: Any, bound: str, tg: FakeTelegram) -> None:
    tg.script("sendMessage", fixture("error_429.json"))
    status, text, _ = post(client, body(bound), "k-6")
    assert status == 502 and json.loads(text)["code"] == "PROVIDER_RATE_LIMITED"
    assert record("t1", "k-6") is None
    status, text, _ = post(client, body(bound), "k-6")
    assert status == 200
    assert len(tg.calls("sendMessage")) == 2
    item = record("t1", "k-6")
    assert item is not None and item["responseStatus"] == 200


def test_a_4xx_answer_is_stored_and_replayed(client: Any, make_tenant: Any, tg: FakeTelegram) -> None:
    make_tenant("t1", "http://127.0.0.1:9/v1/mux/inbound", KEY_1)
    session = telegram_session_key(DM)
    status, first, _ = post(client, body(session), "k-7")
    assert status == 403 and json.loads(first)["code"] == "ROUTE_NOT_BOUND"
    bind_telegram("t1", DM)  # bound afterwards: the key still answers what it answered
    status, again, headers = post(client, body(session), "k-7")
    assert (status, again, headers.get("Idempotent-Replayed")) == (403, first, "true")
    assert tg.calls() == []
    assert post(client, body(session), "k-8")[0] == 200  # a new key sends


def test_typing_with_a_key_sends_once(client: Any, bound: str, tg: FakeTelegram) -> None:
    data = {"channel": "telegram", "sessionKey": bound}
    results = [post(client, data, "k-9", path="/v1/mux/outbound/typing") for _ in range(2)]
    assert [(s, json.loads(t)) for s, t, _ in results] == [(200, {"ok": True})] * 2
    assert len(tg.calls("sendChatAction")) == 1


def test_an_overlong_key_is_400(client: Any, bound: str, tg: FakeTelegram) -> None:
    status, text, _ = post(client, body(bound), "k" * 300)
    assert status == 400 and json.loads(text)["code"] == "INVALID_REQUEST"
    assert tg.calls() == []


def test_without_a_key_nothing_is_stored(client: Any, bound: str, tg: FakeTelegram, aws_env: Any) -> None:
    for _ in range(2):
        assert post(client, body(bound), None)[0] == 200
    assert len(tg.calls("sendMessage")) == 2
    import boto3

    items = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=aws_env.table_name)["Items"]
    assert not [i for i in items if i["pk"]["S"].startswith("IDEMP#")]


class Updates:
    """DynamoDB UpdateItem calls made by the service's client."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, model: Any, **_: Any) -> None:
        if model.name == "UpdateItem":
            self.count += 1


@pytest.fixture
def updates(aws_env: Any) -> Updates:
    from chalicelib import aws

    counter = Updates()
    aws._client("dynamodb").meta.events.register("before-call.*.*", counter, unique_id="idem-updates")
    return counter


def test_a_prompt_answer_is_stored_whole_beside_the_message_records(
    client: Any, bound: str, tg: FakeTelegram, updates: Updates
) -> None:
    before = int(time.time() * 1000)
    status, text, _ = post(client, body(bound), "k-whole")
    assert status == 200
    item = record("t1", "k-whole")
    assert item is not None
    assert updates.count == 0  # no UpdateItem: the finished record rode in the message records' BatchWriteItem
    assert (item["status"], item["responseStatus"], json.loads(item["responseBody"])) == ("done", 200, json.loads(text))
    assert item["type"] == "idempotency" and item["tenantId"] == "t1" and item["attemptId"]
    assert item["bodyHash"] == table.sha256_hex(outbound.canonical_json(body(bound)))
    assert before <= item["createdAtMs"] <= item["lockExpiresAtMs"] - outbound.IDEMPOTENCY_LOCK_MS + 1000
    route = table.get(table.session_key("t1", "telegram", bound))
    assert route is not None
    assert table.get(table.message_key(str(route["routeKey"]), json.loads(text)["messageId"])) is not None
    again = post(client, body(bound), "k-whole")
    assert (again[0], again[1], again[2].get("Idempotent-Replayed")) == (200, text, "true")
    assert len(tg.calls("sendMessage")) == 1


def test_near_its_lock_expiry_an_attempt_stores_its_answer_only_if_it_still_owns_the_key(
    client: Any, bound: str, tg: FakeTelegram, updates: Updates, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A lock no longer than the margin: by the time the platform answered, another attempt could own the key.
    monkeypatch.setattr(outbound, "IDEMPOTENCY_LOCK_MS", idempotency.PLAIN_FINISH_MARGIN_MS)
    key = table.idempotency_key("t1", table.sha256_hex("k-late"))

    def taken_over_meanwhile(request_body: dict[str, Any]) -> dict[str, Any]:
        import boto3  # not the service's client: this write is the other attempt's, not counted

        boto3.client("dynamodb", region_name="us-east-1").update_item(
            TableName=table.table_name(), Key=table.to_ddb(key), UpdateExpression="SET attemptId = :other",
            ExpressionAttributeValues=table.values(other="another-attempt"),
        )
        return {"ok": True, "result": tg.message(request_body)}

    tg.script("sendMessage", taken_over_meanwhile)
    status, _, _ = post(client, body(bound), "k-late")
    assert status == 200  # the message is out
    item = record("t1", "k-late")
    assert item is not None
    assert (item["attemptId"], item["status"]) == ("another-attempt", "in_progress")  # not clobbered
    assert "responseBody" not in item
    assert updates.count == 1  # the conditional finish, refused


def test_a_short_ttl_stores_the_answer_conditionally(
    client: Any, bound: str, tg: FakeTelegram, updates: Updates, configure: Any
) -> None:
    # A record this close to its TTL could be claimed afresh (another body) before an unconditional write lands.
    # (The TTL attribute is in whole seconds, rounded up: 2 s off the margin keeps the record inside it.)
    configure(MUX_IDEMPOTENCY_TTL_MS=str(idempotency.PLAIN_FINISH_MARGIN_MS - 2000))
    status, text, _ = post(client, body(bound), "k-short")
    assert status == 200
    item = record("t1", "k-short")
    assert item is not None and (item["status"], item["responseBody"]) == ("done", text)
    assert updates.count == 1


def test_a_finished_record_left_unprocessed_is_stored_conditionally(
    client: Any, bound: str, tg: FakeTelegram, updates: Updates, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = table.batch_write_once

    def throttled(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # DynamoDB took the message records and handed the idempotency record back unprocessed.
        kept = [i for i in items if i.get("type") == "idempotency"]
        return real([i for i in items if i.get("type") != "idempotency"]) + kept

    monkeypatch.setattr(table, "batch_write_once", throttled)
    status, text, _ = post(client, body(bound), "k-unprocessed")
    assert status == 200
    item = record("t1", "k-unprocessed")
    assert item is not None and (item["status"], item["responseBody"]) == ("done", text)
    assert updates.count == 1
