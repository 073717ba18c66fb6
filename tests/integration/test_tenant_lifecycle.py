"""Tenant lifecycle over HTTP (chalice test client, moto): list, enable, disable, delete, and the
bootstrap/disable race (disable always wins)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.storage import tenants as tenant_store

INBOUND = "http://127.0.0.1:9/v1/mux/inbound"
KEY_A = "lifecycle-key-aaaaaaaaaaaaaaaaaaaaaaaa"
KEY_B = "lifecycle-key-bbbbbbbbbbbbbbbbbbbbbbbb"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def bootstrap(client: Any, headers: dict[str, str], tenant_id: str, key: str, **extra: Any) -> Any:
    body = {"tenantId": tenant_id, "apiKey": key, "inboundUrl": INBOUND, **extra}
    return client.http.post("/v1/admin/tenants/bootstrap", headers=headers, body=json.dumps(body))


def key_works(client: Any, key: str) -> bool:
    """The key is accepted by a route that loads the tenant or by one that only looks the key up."""
    statuses = {client.http.get(path, headers=bearer(key)).status_code
                for path in ("/v1/tenant/inbound-target", "/v1/pairings")}
    assert statuses <= {200, 401}
    return 200 in statuses


def disable_between_read_and_write(monkeypatch: pytest.MonkeyPatch, tenant_id: str) -> list[int]:
    """Make the next bootstrap read the tenant, then let a disable run to completion, then go on."""
    from chalicelib.services import tenants

    original = tenant_store.get
    armed = [1]

    def get(tid: str) -> Any:
        found = original(tid)
        if armed and tid == tenant_id:
            armed.clear()
            tenants.disable(tenant_id)
        return found

    monkeypatch.setattr(tenant_store, "get", get)
    return armed


@pytest.mark.parametrize("new_key", [KEY_A, KEY_B], ids=["update", "rotation"])
def test_disable_wins_over_a_concurrent_bootstrap(
    client: Any, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch, new_key: str
) -> None:
    assert bootstrap(client, admin_headers, "race", KEY_A).status_code == 200
    armed = disable_between_read_and_write(monkeypatch, "race")
    response = bootstrap(client, admin_headers, "race", new_key, name="Renamed")
    assert not armed, "the hook did not run"
    assert response.status_code == 200, response.body
    assert response.json_body["disabled"] is True
    shown = client.http.get("/v1/admin/tenants/race", headers=admin_headers).json_body
    assert shown["disabled"] is True and shown["name"] == "Renamed"
    assert not key_works(client, KEY_A) and not key_works(client, KEY_B)


def test_disable_wins_over_a_bootstrap_that_rotates_the_key_meanwhile(
    client: Any, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert bootstrap(client, admin_headers, "race2", KEY_A).status_code == 200
    original = tenant_store.get
    armed = [1]

    def get(tid: str) -> Any:
        found = original(tid)
        if armed and tid == "race2":
            armed.clear()  # the disable has read K_A; now a rotation to K_B lands before its write
            assert bootstrap(client, admin_headers, "race2", KEY_B).status_code == 200
        return found

    monkeypatch.setattr(tenant_store, "get", get)
    response = client.http.post("/v1/admin/tenants/race2/disable", headers=admin_headers)
    assert not armed and response.status_code == 200 and response.json_body["disabled"] is True
    assert not key_works(client, KEY_A) and not key_works(client, KEY_B)


# --- list -----------------------------------------------------------------------------------------
def listing(client: Any, headers: dict[str, str], query: str = "") -> Any:
    return client.http.get(f"/v1/admin/tenants{query}", headers=headers)


def test_list_paginates_filters_by_status_and_shows_no_keys(client: Any, admin_headers: dict[str, str]) -> None:
    keys = {}
    for n in (1, 2, 3):
        keys[n] = f"list-key-{n}-0123456789abcdefghijklmn"
        assert bootstrap(client, admin_headers, f"x{n}", keys[n]).status_code == 200
    assert client.http.post("/v1/admin/tenants/x2/disable", headers=admin_headers).status_code == 200

    first = listing(client, admin_headers, "?limit=2")
    assert first.status_code == 200, first.body
    page = first.json_body
    assert [(t["tenantId"], t["status"]) for t in page["items"]] == [("x1", "enabled"), ("x3", "enabled")]
    assert page["nextCursor"]
    second = listing(client, admin_headers, f"?limit=2&cursor={page['nextCursor']}").json_body
    assert [(t["tenantId"], t["status"]) for t in second["items"]] == [("x2", "disabled")]
    assert second["nextCursor"] is None
    everything = listing(client, admin_headers).json_body
    assert [t["tenantId"] for t in everything["items"]] == ["x1", "x3", "x2"] and everything["nextCursor"] is None

    enabled = listing(client, admin_headers, "?status=enabled").json_body["items"]
    assert [t["tenantId"] for t in enabled] == ["x1", "x3"]
    disabled = listing(client, admin_headers, "?status=disabled").json_body["items"]
    assert [(t["tenantId"], t["disabled"]) for t in disabled] == [("x2", True)]

    raw = first.body.decode() + listing(client, admin_headers).body.decode()
    assert not any(k in raw for k in keys.values())
    assert "keyHash" not in raw and "keyCiphertext" not in raw and "Ciphertext" not in raw

    # Enabling moves the tenant back to the enabled listing.
    assert client.http.post("/v1/admin/tenants/x2/enable", headers=admin_headers).status_code == 200
    assert [t["tenantId"] for t in listing(client, admin_headers, "?status=enabled").json_body["items"]] == [
        "x1", "x2", "x3"]


@pytest.mark.parametrize(
    ("query", "code"),
    [("?status=paused", "INVALID_REQUEST"), ("?limit=0", "INVALID_REQUEST"), ("?limit=x", "INVALID_REQUEST"),
     ("?cursor=not-a-cursor", "INVALID_CURSOR")],
)
def test_list_rejects_bad_parameters(client: Any, admin_headers: dict[str, str], query: str, code: str) -> None:
    response = listing(client, admin_headers, query)
    assert response.status_code == 400 and response.json_body["code"] == code


def test_list_cursor_of_one_filter_is_refused_by_another(client: Any, admin_headers: dict[str, str]) -> None:
    for n in (1, 2):
        assert bootstrap(client, admin_headers, f"c{n}", f"cursor-key-{n}-0123456789abcdefghijkl").status_code == 200
    cursor = listing(client, admin_headers, "?status=enabled&limit=1").json_body["nextCursor"]
    assert cursor
    response = listing(client, admin_headers, f"?status=disabled&cursor={cursor}")
    assert response.status_code == 400 and response.json_body["code"] == "INVALID_CURSOR"


def test_list_needs_the_admin_token(client: Any) -> None:
    assert listing(client, {"Authorization": "Bearer nope"}).status_code == 401


# --- enable / disable / bootstrap -----------------------------------------------------------------
def test_enable_restores_the_key_and_is_idempotent(client: Any, admin_headers: dict[str, str]) -> None:
    assert bootstrap(client, admin_headers, "e1", KEY_A).status_code == 200
    assert client.http.post("/v1/admin/tenants/e1/disable", headers=admin_headers).status_code == 200
    assert not key_works(client, KEY_A)
    for _ in range(2):
        response = client.http.post("/v1/admin/tenants/e1/enable", headers=admin_headers)
        assert response.status_code == 200 and response.json_body["disabled"] is False
    assert key_works(client, KEY_A)


def test_bootstrap_never_changes_the_disabled_flag(client: Any, admin_headers: dict[str, str]) -> None:
    assert bootstrap(client, admin_headers, "b1", KEY_A).status_code == 200
    assert client.http.post("/v1/admin/tenants/b1/disable", headers=admin_headers).status_code == 200
    rotated = bootstrap(client, admin_headers, "b1", KEY_B, inboundTimeoutMs=5000)
    assert rotated.status_code == 200 and rotated.json_body["disabled"] is True
    assert rotated.json_body["inboundTimeoutMs"] == 5000
    assert not key_works(client, KEY_A) and not key_works(client, KEY_B)
    assert client.http.post("/v1/admin/tenants/b1/enable", headers=admin_headers).status_code == 200
    assert key_works(client, KEY_B) and not key_works(client, KEY_A)  # the rotation took effect


def test_enable_refuses_a_key_taken_while_disabled(client: Any, admin_headers: dict[str, str]) -> None:
    assert bootstrap(client, admin_headers, "k1", KEY_A).status_code == 200
    assert client.http.post("/v1/admin/tenants/k1/disable", headers=admin_headers).status_code == 200
    assert bootstrap(client, admin_headers, "k2", KEY_A).status_code == 200
    response = client.http.post("/v1/admin/tenants/k1/enable", headers=admin_headers)
    assert response.status_code == 409 and response.json_body["code"] == "API_KEY_IN_USE"
    assert client.http.get("/v1/admin/tenants/k1", headers=admin_headers).json_body["disabled"] is True


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/v1/admin/tenants/ghost/enable"), ("post", "/v1/admin/tenants/ghost/disable"),
     ("delete", "/v1/admin/tenants/ghost"), ("get", "/v1/admin/tenants/ghost")],
)
def test_unknown_tenant_is_404(client: Any, admin_headers: dict[str, str], method: str, path: str) -> None:
    response = getattr(client.http, method)(path, headers=admin_headers)
    assert response.status_code == 404 and response.json_body["code"] == "TENANT_NOT_FOUND"


def test_openapi_describes_the_lifecycle_routes(client: Any) -> None:
    paths = json.loads(client.http.get("/openapi.json").body)["paths"]
    listing_op = paths["/v1/admin/tenants"]["get"]
    params = {p["name"]: p for p in listing_op["parameters"]}
    assert params["status"]["schema"]["enum"] == ["enabled", "disabled"] and params["status"]["in"] == "query"
    assert {"limit", "cursor"} <= set(params)
    assert "delete" in paths["/v1/admin/tenants/{tenantId}"] and "get" in paths["/v1/admin/tenants/{tenantId}"]
    assert "post" in paths["/v1/admin/tenants/{tenantId}/enable"]


def test_a_delete_cut_short_leaves_a_dead_tenant_and_repeating_it_finishes(
    client: Any, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert bootstrap(client, admin_headers, "half", KEY_A).status_code == 200
    original = tenant_store.delete_routes

    def crash(*_args: Any) -> int:
        raise RuntimeError("the function timed out")

    monkeypatch.setattr(tenant_store, "delete_routes", crash)
    assert client.http.delete("/v1/admin/tenants/half", headers=admin_headers).status_code == 500
    assert not key_works(client, KEY_A)
    for response in (bootstrap(client, admin_headers, "half", KEY_A),
                     client.http.post("/v1/admin/tenants/half/enable", headers=admin_headers)):
        assert response.status_code == 409 and response.json_body["code"] == "TENANT_BEING_DELETED"
    assert not key_works(client, KEY_A)

    monkeypatch.setattr(tenant_store, "delete_routes", original)
    assert client.http.delete("/v1/admin/tenants/half", headers=admin_headers).status_code == 200
    assert client.http.get("/v1/admin/tenants/half", headers=admin_headers).status_code == 404
    assert bootstrap(client, admin_headers, "half", KEY_A).status_code == 200  # a new tenant of that id
    assert key_works(client, KEY_A)
