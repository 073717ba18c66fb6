"""Runtime-JWT instances through the Chalice test client on moto: registration answers, signing-key lifecycle,
JWT auth on tenant routes (CONTRACT §14). The end-to-end flow over real HTTP is tests/e2e/test_jwt_instances.py."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from chalicelib.services import instances

REGISTER_KEY = "register-key-0123456789abcdef"
ID = "0a" * 32
URL = "http://127.0.0.1:9/v1/mux/inbound"


@pytest.fixture
def on(configure: Any) -> None:
    configure(MUX_REGISTER_KEY=REGISTER_KEY)


def register(client: Any, body: Any, key: str | None = REGISTER_KEY) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    resp = client.http.post("/v1/instances/register", headers=headers, body=json.dumps(body))
    return resp.status_code, json.loads(resp.body)


def runtime(client: Any, method: str, path: str, token: str, body: Any = None, openclaw_id: str = ID) -> Any:
    headers = {"Authorization": f"Bearer {token}", "X-OpenClaw-Id": openclaw_id, "Content-Type": "application/json"}
    call = getattr(client.http, method)
    return call(path, headers=headers, body=json.dumps(body)) if body is not None else call(path, headers=headers)


def test_register_route_is_404_without_a_register_key(client: Any) -> None:
    status, body = register(client, {"openclawId": ID, "inboundUrl": URL})
    assert (status, body["code"]) == (404, "NOT_FOUND")


def test_register_refusals_that_openclaw_treats_as_final(client: Any, on: None, make_tenant: Any) -> None:
    assert register(client, {"openclawId": ID, "inboundUrl": URL}, key="wrong-key")[0] == 401
    assert register(client, {"openclawId": ID, "inboundUrl": URL}, key=None)[0] == 401
    assert register(client, {"openclawId": ID[:-1], "inboundUrl": URL})[1]["code"] == "INVALID_REQUEST"
    assert register(client, {"openclawId": ID, "inboundUrl": "ftp://x"})[1]["code"] == "INVALID_INBOUND_URL"
    make_tenant("1b" * 32, URL, "shared-key-0123456789abcdefghij")
    status, body = register(client, {"openclawId": "1b" * 32, "inboundUrl": URL})
    assert (status, body["code"]) == (409, "OPENCLAW_ID_IN_USE")


def test_register_answers_passing_troubles_with_statuses_openclaw_retries(
    client: Any, on: None, configure: Any, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(MUX_ALLOW_PRIVATE_INBOUND_URLS="false")

    def no_dns(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror("no such host")

    with monkeypatch.context() as patched:
        patched.setattr(socket, "getaddrinfo", no_dns)
        status, body = register(client, {"openclawId": ID, "inboundUrl": "https://openclaw.example.test/v1/mux/in"})
    assert (status, body["code"]) == (503, "INBOUND_URL_UNRESOLVED")
    configure(MUX_REGISTER_KEY=REGISTER_KEY, MUX_ALLOW_PRIVATE_INBOUND_URLS="true")
    assert register(client, {"openclawId": ID, "inboundUrl": URL})[0] == 200
    client.http.post(f"/v1/admin/tenants/{ID}/disable", headers=admin_headers)
    status, body = register(client, {"openclawId": ID, "inboundUrl": URL})
    assert (status, body["code"]) == (403, "INSTANCE_DISABLED")
    client.http.post(f"/v1/admin/tenants/{ID}/enable", headers=admin_headers)
    assert register(client, {"openclawId": ID, "inboundUrl": URL})[0] == 200


def test_register_upserts_and_clamps_the_timeout(client: Any, on: None, admin_headers: dict[str, str]) -> None:
    assert register(client, {"openclawId": ID, "inboundUrl": URL, "inboundTimeoutMs": 120000,
                             "instanceMeta": {"version": "v2026.2.12"}})[0] == 200
    assert register(client, {"openclawId": ID, "inboundUrl": URL + "2"})[0] == 200
    shown = json.loads(client.http.get(f"/v1/admin/tenants/{ID}", headers=admin_headers).body)
    assert (shown["inboundUrl"], shown["inboundTimeoutMs"], shown["mode"], shown["sharedTenantKey"]) == (
        URL + "2", 15000, "jwt", False)


def test_runtime_jwt_auth_on_tenant_routes(client: Any, on: None, admin_headers: dict[str, str], tg: Any) -> None:
    token = register(client, {"openclawId": ID, "inboundUrl": URL})[1]["runtimeToken"]
    assert runtime(client, "get", "/v1/pairings", token).status_code == 200
    assert runtime(client, "get", "/v1/pairings", token, openclaw_id="0b" * 32).status_code == 401
    # The file route takes the runtime JWT too: past auth, an unknown file is 404, not 401.
    assert runtime(client, "get", "/v1/mux/files/telegram?id=nope", token).status_code == 404
    made = runtime(client, "post", "/v1/pairings/token", token, {"channel": "telegram", "openclawId": ID})
    assert made.status_code == 200 and json.loads(made.body)["token"].startswith("mpt_")
    other = runtime(client, "post", "/v1/pairings/token", token, {"channel": "telegram", "openclawId": "0b" * 32})
    assert (other.status_code, json.loads(other.body)["code"]) == (401, "OPENCLAW_ID_MISMATCH")
    # A disabled instance's token stops working at once.
    client.http.post(f"/v1/admin/tenants/{ID}/disable", headers=admin_headers)
    assert runtime(client, "get", "/v1/pairings", token).status_code == 401


def test_rotation_publishes_first_and_signs_after_the_delay(
    client: Any, on: None, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = register(client, {"openclawId": ID, "inboundUrl": URL})[1]["runtimeToken"]
    first = json.loads(client.http.get("/.well-known/jwks.json").body)["keys"][0]["kid"]
    rotated = json.loads(client.http.post("/v1/admin/signing-keys/rotate", headers=admin_headers,
                                          body=json.dumps({})).body)["keys"]
    assert [(k["kid"] == first, k["signing"]) for k in rotated] == [(True, True), (False, False)]
    assert len(json.loads(client.http.get("/.well-known/jwks.json").body)["keys"]) == 2
    assert instances.inbound_token(ID).count(".") == 2
    assert _kid(instances.inbound_token(ID)) == first  # still the old key: the new one is only published
    later = instances.now_ms() + 601_000
    with monkeypatch.context() as patched:
        patched.setattr(instances, "now_ms", lambda: later)
        assert _kid(instances.inbound_token(ID)) != first
    assert runtime(client, "get", "/v1/pairings", token).status_code == 200  # old-key tokens still trusted


def test_emergency_rotation_retires_the_old_key(client: Any, on: None, admin_headers: dict[str, str]) -> None:
    token = register(client, {"openclawId": ID, "inboundUrl": URL})[1]["runtimeToken"]
    client.http.post("/v1/admin/signing-keys/rotate", headers=admin_headers,
                     body=json.dumps({"activateAfterSec": 0, "retireOthers": True}))
    keys = json.loads(client.http.get("/.well-known/jwks.json").body)["keys"]
    assert [k["kid"] for k in keys] != [_kid(token)] and len(keys) == 1
    assert runtime(client, "get", "/v1/pairings", token).status_code == 401  # OpenClaw re-registers on 401
    fresh = register(client, {"openclawId": ID, "inboundUrl": URL})[1]["runtimeToken"]
    assert runtime(client, "get", "/v1/pairings", fresh).status_code == 200


def test_admin_pairing_token_needs_a_registered_instance(client: Any, on: None, admin_headers: dict[str, str],
                                                         make_tenant: Any) -> None:
    resp = client.http.post("/v1/admin/pairings/token", headers=admin_headers,
                            body=json.dumps({"openclawId": ID, "channel": "telegram"}))
    assert (resp.status_code, json.loads(resp.body)["code"]) == (404, "INSTANCE_NOT_FOUND")


def _kid(token: str) -> str:
    from chalicelib import signing

    return str(signing.parse(token).header["kid"])
