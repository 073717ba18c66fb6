"""The outbound send's one BatchGetItem names its items from what earlier sends learnt; these tests make every
remembered name stale right after a send that learnt it, and check that the next send still obeys the table at
once (services/outbound.py `_read_ahead`): unbind, a route taken by another tenant behind a stale session route,
a session moved to another chat, key rotation, disable and delete."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from chalicelib.storage import bindings, table
from tests.fakes.pairing import bind_telegram, telegram_session_key
from tests.fakes.telegram_server import FakeTelegram

KEY = "read-ahead-key-0123456789abcdefgh"
KEY_2 = "read-ahead-two-0123456789abcdefgh"
NEW_KEY = "read-ahead-new-0123456789abcdefgh"
DM = "5123456789"
OTHER = "5987654321"
SESSION = telegram_session_key(DM)


def send(client: Any, key: str = KEY, session: str = SESSION) -> tuple[int, dict[str, Any]]:
    resp = client.http.post(
        "/v1/mux/outbound/send",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        body=json.dumps({"channel": "telegram", "sessionKey": session, "text": "hi"}),
    )
    return resp.status_code, json.loads(resp.body)


@pytest.fixture
def warm(client: Any, make_tenant: Any, tg: FakeTelegram) -> Any:
    """Tenant t1 bound to DM, one send made (the container knows the key and the session's binding)."""
    make_tenant("t1", "http://127.0.0.1:9/v1/mux/inbound", KEY)
    binding = bind_telegram("t1", DM)
    assert send(client)[0] == 200
    tg.reset()
    return binding


def test_unbind_stops_the_next_send(client: Any, warm: Any, tg: FakeTelegram) -> None:
    resp = client.http.post("/v1/pairings/unbind", headers={"Authorization": f"Bearer {KEY}"},
                            body=json.dumps({"bindingId": warm.binding_id}))
    assert resp.status_code == 200
    status, body = send(client)
    assert (status, body["code"]) == (403, "ROUTE_NOT_BOUND")
    assert tg.calls() == []


def test_a_stale_session_route_never_reaches_a_route_another_tenant_took(
    client: Any, warm: Any, make_tenant: Any, tg: FakeTelegram
) -> None:
    # /bot_switch moves the chat to t2; t1's session route is then deleted after the transaction. Put it back,
    # as a crash between the two would leave it: it still names the route and t1's old binding.
    stale = table.get(table.session_key("t1", "telegram", SESSION))
    make_tenant("t2", "http://127.0.0.1:9/v1/mux/inbound", KEY_2)
    now = int(time.time() * 1000)
    bindings.put_token("switch-token-hash", {"tenantId": "t2", "channel": "telegram"}, now + 60_000)
    taken = warm.model_copy(update={"binding_id": "bind_t2", "tenant_id": "t2",
                                    "session_key": "agent:main:telegram:direct:t2"})
    bindings.claim(token_hash="switch-token-hash", channel="telegram", binding=taken, existing=warm, now_ms=now,
                   replace=True)
    assert stale is not None
    table.put(stale)
    status, body = send(client)
    assert (status, body["code"]) == (403, "ROUTE_NOT_BOUND")
    assert tg.calls() == []
    assert send(client, KEY_2, "agent:main:telegram:direct:t2")[0] == 200
    assert [c.body["chat_id"] for c in tg.calls("sendMessage")] == [int(DM)]


def test_a_session_moved_to_another_chat_sends_there(client: Any, warm: Any, tg: FakeTelegram) -> None:
    bind_telegram("t1", OTHER, session_key=SESSION)  # a pairing link carrying this session key, used in OTHER
    status, body = send(client)
    assert (status, body["chatId"]) == (200, OTHER)
    assert [c.body["chat_id"] for c in tg.calls("sendMessage")] == [int(OTHER)]


def test_rotation_disable_and_delete_take_effect_on_the_next_send(
    client: Any, warm: Any, admin_headers: dict[str, str], tg: FakeTelegram
) -> None:
    body = {"tenantId": "t1", "apiKey": NEW_KEY, "inboundUrl": "http://127.0.0.1:9/v1/mux/inbound"}
    assert client.http.post("/v1/admin/tenants/bootstrap", headers=admin_headers,
                            body=json.dumps(body)).status_code == 200
    assert send(client)[0] == 401
    assert send(client, NEW_KEY)[0] == 200
    assert client.http.post("/v1/admin/tenants/t1/disable", headers=admin_headers).status_code == 200
    assert send(client, NEW_KEY)[0] == 401
    assert client.http.post("/v1/admin/tenants/t1/enable", headers=admin_headers).status_code == 200
    assert send(client, NEW_KEY)[0] == 200
    assert client.http.delete("/v1/admin/tenants/t1", headers=admin_headers).status_code == 200
    assert send(client, NEW_KEY)[0] == 401
    assert len(tg.calls("sendMessage")) == 2


def test_a_wrong_key_is_401_before_any_complaint_about_the_body(client: Any, warm: Any) -> None:
    for raw in ("{not json", json.dumps({"channel": "telegram"}), json.dumps({"channel": "nope", "sessionKey": "x"})):
        resp = client.http.post("/v1/mux/outbound/send", body=raw,
                                headers={"Authorization": "Bearer wrong-key-0123456789abcdefgh"})
        assert resp.status_code == 401, raw
        resp = client.http.post("/v1/mux/outbound/send", body=raw, headers={"Authorization": f"Bearer {KEY}"})
        assert resp.status_code == 400, raw


class _Throttled:
    """The DynamoDB client, except that every BatchGetItem leaves all its keys unprocessed (as under throttling)."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 - boto3's spelling
        return {"Responses": {}, "UnprocessedKeys": RequestItems}


def test_keys_a_batch_left_unprocessed_are_read_not_taken_as_absent(
    client: Any, warm: Any, tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import aws

    real = aws.dynamodb()
    monkeypatch.setattr(aws, "dynamodb", lambda: _Throttled(real))
    status, body = send(client)
    assert (status, body.get("code")) == (200, None)
    assert [c.body["chat_id"] for c in tg.calls("sendMessage")] == [int(DM)]
