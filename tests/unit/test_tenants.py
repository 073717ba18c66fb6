"""Admin tenant routes and tenant authentication through the Chalice test client (moto-backed)."""

from __future__ import annotations

import hashlib
import json

import boto3
import pytest

KEY_A = "tenant-key-aaaaaaaaaaaaaaaaaaaaaaaa"
KEY_B = "tenant-key-bbbbbbbbbbbbbbbbbbbbbbbb"
INBOUND = "http://127.0.0.1:9/v1/mux/inbound"


def post_json(client, path, body, headers):
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.http.post(path, headers=headers, body=raw)


def assert_error(response, status, code):
    assert response.status_code == status, response.body
    body = response.json_body
    assert body["ok"] is False
    assert body["code"] == code
    assert isinstance(body["error"], str) and body["error"]
    assert response.headers["Content-Type"].startswith("application/json")
    return body


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def test_bootstrap_creates_tenant(client, admin_headers):
    body = {"tenantId": "acme", "apiKey": KEY_A, "inboundUrl": INBOUND, "inboundTimeoutMs": 2000}
    response = post_json(client, "/v1/admin/tenants/bootstrap", body, admin_headers)
    assert response.status_code == 200, response.body
    data = response.json_body
    assert data["ok"] is True
    assert data["tenantId"] == "acme"
    assert data["name"] == "acme"
    assert data["inboundUrl"] == INBOUND
    assert data["inboundTimeoutMs"] == 2000
    assert data["sharedTenantKey"] is True
    assert KEY_A not in response.body.decode()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"apiKey": KEY_A, "inboundUrl": INBOUND}, "tenantId"),
        ({"tenantId": "bad id/with slash", "apiKey": KEY_A, "inboundUrl": INBOUND}, "tenantId"),
        ({"tenantId": "t1", "apiKey": "short-secret-value", "inboundUrl": INBOUND}, "apiKey"),
        ({"tenantId": "t1", "apiKey": KEY_A}, "inboundUrl"),
        ({"tenantId": "t1", "apiKey": KEY_A, "inboundUrl": INBOUND, "inboundTimeoutMs": 50}, "inboundTimeoutMs"),
        ({"tenantId": "t1", "apiKey": KEY_A, "inboundUrl": INBOUND, "inboundTimeoutMs": 60001}, "inboundTimeoutMs"),
    ],
)
def test_bootstrap_validation_names_the_field(client, admin_headers, body, field):
    response = post_json(client, "/v1/admin/tenants/bootstrap", body, admin_headers)
    error = assert_error(response, 400, "INVALID_REQUEST")
    assert field in error["error"]
    # Secrets are never echoed back, even when they are the invalid field.
    assert "short-secret-value" not in response.body.decode()
    assert KEY_A not in response.body.decode()


@pytest.mark.parametrize("url", ["ftp://example.com/x", "/relative/path", "http://user:pw@example.com/"])
def test_bootstrap_rejects_non_http_urls(client, admin_headers, url):
    body = {"tenantId": "t1", "apiKey": KEY_A, "inboundUrl": url}
    response = post_json(client, "/v1/admin/tenants/bootstrap", body, admin_headers)
    assert response.status_code == 400
    assert "inboundUrl" in response.json_body["error"]


@pytest.mark.parametrize("raw", ["{not json", "[1, 2, 3]", '"a string"', "\xff\xfe"])
def test_invalid_json(client, admin_headers, raw):
    response = post_json(client, "/v1/admin/tenants/bootstrap", raw, admin_headers)
    assert_error(response, 400, "INVALID_JSON")


def test_empty_body_is_an_empty_object(client, admin_headers):
    response = client.http.post("/v1/admin/tenants/bootstrap", headers=admin_headers, body=b"")
    error = assert_error(response, 400, "INVALID_REQUEST")
    assert "tenantId" in error["error"]


def test_body_over_limit_is_413(client, admin_headers, configure):
    configure(MUX_MAX_BODY_BYTES="64")
    body = {"tenantId": "t1", "apiKey": KEY_A, "inboundUrl": INBOUND, "name": "x" * 100}
    response = post_json(client, "/v1/admin/tenants/bootstrap", body, admin_headers)
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-admin-token-0123456789"},
        {"Authorization": "Basic dGVzdC1hZG1pbi10b2tlbi0wMTIzNDU2Nzg5"},
        {"Authorization": "Bearer"},
    ],
)
def test_wrong_admin_token_is_401(client, headers):
    body = {"tenantId": "t1", "apiKey": KEY_A, "inboundUrl": INBOUND}
    response = post_json(client, "/v1/admin/tenants/bootstrap", body, headers)
    assert_error(response, 401, "UNAUTHORIZED")


def test_bearer_scheme_is_case_insensitive_and_trimmed(client):
    body = {"tenantId": "t1", "apiKey": KEY_A, "inboundUrl": INBOUND}
    headers = {"Authorization": "bearer   test-admin-token-0123456789  "}
    response = post_json(client, "/v1/admin/tenants/bootstrap", body, headers)
    assert response.status_code == 200, response.body


def test_admin_routes_are_404_without_admin_token(client, admin_headers, configure):
    configure(MUX_ADMIN_TOKEN=None)
    body = {"tenantId": "t1", "apiKey": KEY_A, "inboundUrl": INBOUND}
    assert_error(post_json(client, "/v1/admin/tenants/bootstrap", body, admin_headers), 404, "NOT_FOUND")
    assert_error(client.http.get("/v1/admin/tenants/t1", headers=admin_headers), 404, "NOT_FOUND")
    assert_error(client.http.get("/v1/admin/health", headers=admin_headers), 404, "NOT_FOUND")


def test_api_key_in_use_by_another_tenant_is_409(client, admin_headers, make_tenant):
    make_tenant("t1", api_key=KEY_A)
    body = {"tenantId": "t2", "apiKey": KEY_A, "inboundUrl": INBOUND}
    assert_error(post_json(client, "/v1/admin/tenants/bootstrap", body, admin_headers), 409, "API_KEY_IN_USE")
    # t2 was not created and t1 still owns the key.
    assert_error(client.http.get("/v1/admin/tenants/t2", headers=admin_headers), 404, "TENANT_NOT_FOUND")
    assert client.http.get("/v1/tenant/inbound-target", headers=bearer(KEY_A)).status_code == 200


def test_rebootstrap_with_same_key_is_an_update(client, admin_headers, make_tenant):
    make_tenant("t1", api_key=KEY_A)
    body = {"tenantId": "t1", "apiKey": KEY_A, "inboundUrl": "http://127.0.0.1:10/new", "name": "Renamed"}
    response = post_json(client, "/v1/admin/tenants/bootstrap", body, admin_headers)
    assert response.status_code == 200
    assert response.json_body["name"] == "Renamed"
    target = client.http.get("/v1/tenant/inbound-target", headers=bearer(KEY_A)).json_body
    assert target["inboundUrl"] == "http://127.0.0.1:10/new"


def test_rotation_old_key_stops_new_key_works(client, make_tenant):
    make_tenant("t1", api_key=KEY_A)
    assert client.http.get("/v1/tenant/inbound-target", headers=bearer(KEY_A)).status_code == 200
    make_tenant("t1", api_key=KEY_B)
    assert_error(client.http.get("/v1/tenant/inbound-target", headers=bearer(KEY_A)), 401, "UNAUTHORIZED")
    response = client.http.get("/v1/tenant/inbound-target", headers=bearer(KEY_B))
    assert response.status_code == 200
    assert response.json_body == {
        "ok": True,
        "configured": True,
        "inboundUrl": "http://127.0.0.1:9/v1/mux/inbound",
        "inboundTimeoutMs": 15000,
    }


def test_rotated_away_key_can_be_used_by_another_tenant(client, make_tenant):
    make_tenant("t1", api_key=KEY_A)
    make_tenant("t1", api_key=KEY_B)
    make_tenant("t2", api_key=KEY_A)
    assert client.http.get("/v1/tenant/inbound-target", headers=bearer(KEY_A)).status_code == 200
    assert client.http.get("/v1/tenant/inbound-target", headers=bearer(KEY_B)).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/v1/mux/inbound",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/v1/mux/inbound",
        "http://192.168.0.10/x",
        "http://[::1]/x",
        "http://localhost/x",
        "http://100.64.0.1/x",
    ],
)
def test_ssrf_guard_refuses_private_targets(client, admin_headers, configure, url):
    configure(MUX_ALLOW_PRIVATE_INBOUND_URLS="false")
    body = {"tenantId": "t1", "apiKey": KEY_A, "inboundUrl": url}
    response = post_json(client, "/v1/admin/tenants/bootstrap", body, admin_headers)
    assert response.status_code == 400, response.body
    assert response.json_body["code"] == "INBOUND_URL_NOT_ALLOWED"
    assert_error(client.http.get("/v1/admin/tenants/t1", headers=admin_headers), 404, "TENANT_NOT_FOUND")


def test_ssrf_guard_allows_public_ip(client, admin_headers, configure):
    configure(MUX_ALLOW_PRIVATE_INBOUND_URLS="false")
    body = {"tenantId": "t1", "apiKey": KEY_A, "inboundUrl": "https://93.184.216.34/v1/mux/inbound"}
    assert post_json(client, "/v1/admin/tenants/bootstrap", body, admin_headers).status_code == 200


def test_ssrf_guard_applies_to_tenant_inbound_target(client, make_tenant, configure):
    make_tenant("t1", api_key=KEY_A)
    configure(MUX_ALLOW_PRIVATE_INBOUND_URLS="false")
    response = post_json(
        client, "/v1/tenant/inbound-target", {"inboundUrl": "http://169.254.169.254/"}, bearer(KEY_A)
    )
    assert response.status_code == 400
    assert response.json_body["code"] == "INBOUND_URL_NOT_ALLOWED"


def test_disable_stops_the_key(client, admin_headers, make_tenant):
    make_tenant("t1", api_key=KEY_A)
    response = client.http.post("/v1/admin/tenants/t1/disable", headers=admin_headers)
    assert response.status_code == 200
    assert response.json_body["disabled"] is True
    assert_error(client.http.get("/v1/tenant/inbound-target", headers=bearer(KEY_A)), 401, "UNAUTHORIZED")
    shown = client.http.get("/v1/admin/tenants/t1", headers=admin_headers).json_body
    assert shown["disabled"] is True


def test_disable_unknown_tenant_is_404(client, admin_headers):
    response = client.http.post("/v1/admin/tenants/nobody/disable", headers=admin_headers)
    assert_error(response, 404, "TENANT_NOT_FOUND")


def test_get_tenant_never_shows_the_key(client, admin_headers, make_tenant):
    make_tenant("t1", api_key=KEY_A)
    response = client.http.get("/v1/admin/tenants/t1", headers=admin_headers)
    assert response.status_code == 200
    data = response.json_body
    assert data["tenantId"] == "t1"
    assert data["inboundUrl"] == INBOUND
    text = response.body.decode()
    assert KEY_A not in text
    assert hashlib.sha256(KEY_A.encode()).hexdigest() not in text
    assert not {"apiKey", "keyHash", "keyCiphertext", "tenantApiKey"} & set(data)


def test_plaintext_key_is_not_stored(client, make_tenant, aws_env):
    make_tenant("t1", api_key=KEY_A)
    make_tenant("t1", api_key=KEY_B)
    items = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=aws_env.table_name)["Items"]
    dump = json.dumps(items)
    assert items, "the scan found no items"
    assert hashlib.sha256(KEY_B.encode()).hexdigest() in dump  # proves we looked at the tenant's items
    assert KEY_A not in dump
    assert KEY_B not in dump


def test_unknown_route_is_json_404(client):
    assert_error(client.http.get("/v1/nothing/here"), 404, "NOT_FOUND")


def test_tenant_route_without_key_is_401(client):
    assert_error(client.http.get("/v1/tenant/inbound-target"), 401, "UNAUTHORIZED")


def test_openapi_lists_the_tenant_routes(client):
    response = client.http.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json_body
    assert doc["openapi"].startswith("3.1")
    paths = doc["paths"]
    assert "post" in paths["/v1/admin/tenants/bootstrap"]
    assert "get" in paths["/v1/admin/tenants/{tenantId}"]
    assert "post" in paths["/v1/admin/tenants/{tenantId}/disable"]
    assert {"get", "post"} <= set(paths["/v1/tenant/inbound-target"])
    assert "get" in paths["/health"]
    bootstrap = paths["/v1/admin/tenants/bootstrap"]["post"]
    assert "requestBody" in bootstrap
    assert {"200", "400", "401", "409", "413"} <= set(bootstrap["responses"])


def test_health(client):
    response = client.http.get("/health")
    assert response.status_code == 200
    assert response.json_body == {"ok": True}
