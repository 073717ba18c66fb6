"""Pairing-token status over HTTP: pending → claimed (through the webhook and the worker), expired, revoked,
the long-poll (`?waitMs=`) and tenant isolation."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import drain, group_update, post_update, private_update

INVALID = "Pairing link is invalid or expired. Request a new link from your dashboard."


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def new_token(client: Any, key: str, **body: Any) -> dict[str, Any]:
    resp = client.http.post("/v1/pairings/token", headers=auth(key), body=json.dumps({"channel": "telegram", **body}))
    assert resp.status_code == 200, resp.body
    data: dict[str, Any] = json.loads(resp.body)
    return data


def status(client: Any, key: str, token_id: str, query: str = "") -> tuple[int, dict[str, Any]]:
    resp = client.http.get(f"/v1/pairings/tokens/{token_id}{query}", headers=auth(key))
    return resp.status_code, json.loads(resp.body)


def revoke(client: Any, key: str, token_id: str) -> tuple[int, dict[str, Any]]:
    resp = client.http.post(f"/v1/pairings/tokens/{token_id}/revoke", headers=auth(key), body="")
    return resp.status_code, json.loads(resp.body)


def test_status_goes_from_pending_to_claimed_with_the_binding_and_display_fields(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram
) -> None:
    _, key = make_tenant("acme")
    token = new_token(client, key)
    assert token["tokenId"].startswith("ptk_") and token["token"][4:] not in token["tokenId"]
    code, body = status(client, key, token["tokenId"])
    assert code == 200
    assert body["status"] == "pending" and body["ok"] is True
    assert body["channel"] == "telegram" and body["expiresAtMs"] == token["expiresAtMs"]
    assert body["bindingId"] is None and body["displayName"] is None

    # A forum topic: the claim captures the group's title, the topic's name and the user who paired it.
    post_update(client, group_update(-1002233445566, token["startCommand"], topic=42))
    drain(sqs_event)
    code, body = status(client, key, token["tokenId"])
    assert code == 200 and body["status"] == "claimed"
    [item] = json.loads(client.http.get("/v1/pairings", headers=auth(key)).body)["items"]
    assert body["bindingId"] == item["bindingId"]
    assert body["routeKey"] == "telegram:default:chat:-1002233445566:topic:42"
    assert body["sessionKey"] == "agent:main:telegram:group:-1002233445566:topic:42"
    assert body["claimedAtMs"] is not None
    expected = {
        "displayName": "Acme Support › Billing questions",
        "chatTitle": "Acme Support",
        "chatType": "supergroup",
        "topicName": "Billing questions",
        "userName": "Bob",
        "userHandle": "bobk",
    }
    assert {k: body[k] for k in expected} == expected
    assert {k: item[k] for k in expected} == expected


def test_expired_token_reports_expired_and_cannot_be_revoked(
    client: Any, make_tenant: Any, tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.services import pairing

    _, key = make_tenant("acme")
    token = new_token(client, key, ttlSec=60)
    later = token["expiresAtMs"] + 1
    monkeypatch.setattr(pairing, "now_ms", lambda: later)
    code, body = status(client, key, token["tokenId"], "?waitMs=5000")  # final: answered without waiting
    assert code == 200 and body["status"] == "expired"
    code, body = revoke(client, key, token["tokenId"])
    assert code == 409 and body["code"] == "TOKEN_EXPIRED"


def test_revoked_token_stops_working_at_once_and_revoke_is_idempotent(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram
) -> None:
    _, key = make_tenant("acme")
    token = new_token(client, key)
    code, body = revoke(client, key, token["tokenId"])
    assert code == 200 and body["status"] == "revoked" and body["revokedAtMs"] is not None
    code, again = revoke(client, key, token["tokenId"])
    assert code == 200 and again == body

    post_update(client, private_update(7101, token["startCommand"]))
    drain(sqs_event)
    assert [b["text"] for b in tg.bodies("sendMessage") if b["chat_id"] == 7101] == [INVALID]
    assert json.loads(client.http.get("/v1/pairings", headers=auth(key)).body)["items"] == []
    assert status(client, key, token["tokenId"])[1]["status"] == "revoked"

    claimed = new_token(client, key)
    post_update(client, private_update(7102, claimed["startCommand"]))
    drain(sqs_event)
    code, body = revoke(client, key, claimed["tokenId"])
    assert code == 409 and body["code"] == "TOKEN_ALREADY_CLAIMED" and body["details"]["bindingId"].startswith("bind_")
    assert status(client, key, claimed["tokenId"])[1]["status"] == "claimed"


def test_another_tenants_token_id_is_not_found(client: Any, make_tenant: Any, tg: FakeTelegram) -> None:
    _, key_a = make_tenant("acme")
    _, key_b = make_tenant("globex")
    token = new_token(client, key_a)
    for token_id in (token["tokenId"], "ptk_unknown", token["token"]):
        code, body = status(client, key_b, token_id)
        assert code == 404 and body["code"] == "TOKEN_NOT_FOUND"
        code, body = revoke(client, key_b, token_id)
        assert code == 404 and body["code"] == "TOKEN_NOT_FOUND"
    assert status(client, key_a, token["tokenId"])[1]["status"] == "pending"
    assert client.http.get(f"/v1/pairings/tokens/{token['tokenId']}", headers=auth("x" * 30)).status_code == 401
    for bad in ("?waitMs=abc", "?waitMs=-1", "?waitMs=20001"):
        code, body = status(client, key_a, token["tokenId"], bad)
        assert code == 400 and body["code"] == "INVALID_REQUEST" and body["details"]["fields"] == ["waitMs"]


def test_long_poll_answers_as_soon_as_the_token_is_claimed(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.services import pairing

    _, key = make_tenant("acme")
    token = new_token(client, key)
    post_update(client, private_update(7201, token["startCommand"]))  # queued; the worker runs below
    waiting = threading.Event()
    real_sleep = pairing._sleep_ms

    def sleep(ms: int) -> None:
        waiting.set()  # the request has read the token once and found it pending
        real_sleep(ms)

    monkeypatch.setattr(pairing, "_sleep_ms", sleep)
    errors: list[BaseException] = []

    def claim_while_waiting() -> None:
        try:
            assert waiting.wait(10)
            drain(sqs_event)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    worker = threading.Thread(target=claim_while_waiting)
    worker.start()
    started = time.monotonic()
    code, body = status(client, key, token["tokenId"], "?waitMs=15000")
    elapsed = time.monotonic() - started
    worker.join(10)
    assert errors == []
    assert code == 200 and body["status"] == "claimed" and body["userName"] == "Alice Ng"
    assert elapsed < 5, elapsed  # well before the 15 s asked for


def test_long_poll_answers_the_unchanged_status_when_the_wait_is_over(
    client: Any, make_tenant: Any, tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.services import pairing
    from chalicelib.storage import bindings

    _, key = make_tenant("acme")
    token = new_token(client, key)
    reads: list[str] = []
    real_record = bindings.token_record

    def counted(token_hash: str) -> Any:
        reads.append(token_hash)
        return real_record(token_hash)

    monkeypatch.setattr(bindings, "token_record", counted)
    started = time.monotonic()
    code, body = status(client, key, token["tokenId"], "?waitMs=1200")
    elapsed = time.monotonic() - started
    assert code == 200 and body["status"] == "pending"
    assert 1.2 <= elapsed < 4, elapsed
    assert len(reads) <= 1200 // pairing.POLL_INTERVAL_MS + 2  # bounded reads, not a busy loop


def test_a_claim_racing_a_revoke_is_refused_by_the_transaction(client: Any, make_tenant: Any, tg: FakeTelegram) -> None:
    """The claim read the token before the revoke landed: the transaction's condition still refuses it."""
    from chalicelib.clock import now_ms
    from chalicelib.models import Binding
    from chalicelib.storage import bindings
    from chalicelib.storage.table import sha256_hex

    _, key = make_tenant("acme")
    token = new_token(client, key)
    token_hash = sha256_hex(token["token"])
    assert bindings.get_token(token_hash, now_ms()) is not None  # what the worker read: usable
    assert revoke(client, key, token["tokenId"])[0] == 200
    binding = Binding(
        binding_id="bind_race", tenant_id="acme", channel="telegram", scope="chat",
        route_key="telegram:default:chat:7501", session_key="agent:main:telegram:direct:7501", chat_id="7501",
        created_at_ms=now_ms(),
    )
    with pytest.raises(bindings.ClaimRefusedError):
        bindings.claim(token_hash=token_hash, channel="telegram", binding=binding, existing=None, now_ms=now_ms(),
                       event_id="tg:1")
    assert bindings.get_route("telegram:default:chat:7501") is None
    assert status(client, key, token["tokenId"])[1]["status"] == "revoked"
