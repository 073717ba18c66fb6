"""Every documented route answers bad input with a 4xx and the CONTRACT §2 error body — never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.inbound_support import BOT_TOKEN, SECRET

BAD_BODIES = [b"not json", b"[1, 2]", b'"a string"', b"null", b'{"unexpected": {"deep": [1, 2, 3]}}',
              b'{"channel": 12, "sessionKey": [], "tenantId": "../../etc", "apiKey": 5, "inboundUrl": "ftp://x"}',
              "{\"text\": \"\u0000\ud7ff\"}".encode()]


def _paths() -> list[tuple[str, str]]:
    from chalicelib.routes.http import OPERATIONS

    return sorted({(op.method.upper(), op.path.replace("{tenantId}", "acme").replace("{channel}", "telegram"))
                   for op in OPERATIONS if "{proxy+}" not in op.path})


def _check(resp: Any) -> None:
    assert resp.status_code < 500, (resp.status_code, resp.body)
    if resp.status_code >= 400:
        data = json.loads(resp.body)
        assert data["ok"] is False and isinstance(data["error"], str) and data["error"]
        assert isinstance(data["code"], str) and data["code"].isupper()


@pytest.mark.parametrize("who", ["nobody", "admin", "tenant"])
def test_no_route_answers_bad_input_with_a_500(
    client: Any, make_tenant: Any, admin_headers: dict[str, str], configure: Any, who: str
) -> None:
    configure(TELEGRAM_BOT_TOKEN=BOT_TOKEN, MUX_TELEGRAM_WEBHOOK_SECRET=SECRET,
              MUX_TELEGRAM_API_BASE_URL="http://127.0.0.1:9", MUX_MAX_BODY_BYTES="4096")
    _, key = make_tenant("acme")
    headers = {"nobody": {}, "admin": admin_headers, "tenant": {"Authorization": f"Bearer {key}"}}[who]
    headers = {**headers, "X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    paths = _paths()
    assert len(paths) >= 15
    for method, path in paths:
        if method == "GET":
            for suffix in ("", "?limit=abc", "?limit=-1&cursor=%00", "?id="):
                _check(client.http.request(method, path + suffix, headers=headers))
            continue
        for body in [*BAD_BODIES, b"x" * 5000]:
            _check(client.http.request(method, path, headers=headers, body=body))


def test_unknown_routes_and_methods_are_json_errors(client: Any) -> None:
    for method, path in (("GET", "/nope"), ("POST", "/v1/nope/deeper"), ("DELETE", "/v1/pairings")):
        resp = client.http.request(method, path)
        assert resp.status_code in (404, 405), resp.body
        if resp.status_code == 404:
            assert json.loads(resp.body)["code"] == "NOT_FOUND"
