"""Both OpenClaw generations on one mux (CONTRACT §14), over real HTTP against the real local stack.

A shared-key tenant and a runtime-JWT instance side by side: the instance registers with the mux register key,
is paired through the admin token route, sends and types with its runtime JWT, receives inbound messages that a
fake OpenClaw verifies exactly as OpenClaw's handler at 714b97af4 does (tests/fakes/openclaw_jwt.py), and keeps
working across a signing-key rotation.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fakes.openclaw_jwt import JwtInboundCheck
from tests.fakes.openclaw_server import FakeOpenClaw
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import BOT_TOKEN, SECRET, private_update
from tests.localstack import LocalStack, wait_until

ADMIN = "e2e-admin-token-0123456789"
REGISTER_KEY = "e2e-register-key-0123456789abcdef"
KEY = "e2e-tenant-key-0123456789abcdefghijkl"
OPENCLAW_ID = "4f1c" + "0123456789abcdef" * 3 + "a1b2c3d4e5f6"
SHARED_CHAT = 5100000001
JWT_CHAT = 5100000002
SEND = "/v1/mux/outbound/send"


def claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def header(token: str) -> dict[str, Any]:
    part = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeTelegram, FakeOpenClaw, FakeOpenClaw]]:
    with FakeTelegram() as tg, FakeOpenClaw() as shared, FakeOpenClaw() as instance:
        yield tg, shared, instance


@pytest.fixture(scope="module")
def stack(fakes: tuple[FakeTelegram, FakeOpenClaw, FakeOpenClaw]) -> Iterator[LocalStack]:
    tg, _, _ = fakes
    env = {
        "MUX_ADMIN_TOKEN": ADMIN,
        "MUX_REGISTER_KEY": REGISTER_KEY,
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "MUX_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "MUX_TELEGRAM_API_BASE_URL": tg.url,
    }
    with LocalStack(env) as running:
        yield running


def webhook(stack: LocalStack, update: dict[str, Any]) -> None:
    resp = requests.post(stack.url + "/v1/webhooks/telegram", json=update,
                         headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}, timeout=10)
    assert resp.status_code == 200, resp.text


def admin(stack: LocalStack, path: str, body: Any = None, method: str = "POST") -> requests.Response:
    return requests.request(method, stack.url + path, json=body, headers={"Authorization": f"Bearer {ADMIN}"},
                            timeout=10)


def register(stack: LocalStack, body: Any, key: str = REGISTER_KEY) -> requests.Response:
    # Exactly what OpenClaw's registerRuntimeToken sends.
    return requests.post(stack.url + "/v1/instances/register", data=json.dumps(body),
                         headers={"Authorization": f"Bearer {key}",
                                  "Content-Type": "application/json; charset=utf-8"}, timeout=10)


def runtime_post(stack: LocalStack, token: str, body: dict[str, Any], *, openclaw_id: str | None = OPENCLAW_ID,
                 path: str = SEND) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=utf-8",
               "Idempotency-Key": f"idem-{time.monotonic_ns()}"}
    if openclaw_id is not None:
        headers["X-OpenClaw-Id"] = openclaw_id
    return requests.post(stack.url + path, data=json.dumps(body), headers=headers, timeout=10)


def test_jwt_instance_beside_a_shared_key_tenant(
    stack: LocalStack, fakes: tuple[FakeTelegram, FakeOpenClaw, FakeOpenClaw]
) -> None:
    tg, shared, instance = fakes
    check = JwtInboundCheck(OPENCLAW_ID, stack.url, cooldown_sec=0)
    instance.inbound_auth = check

    # --- a shared-key tenant, as today ---------------------------------------------------------------
    boot = admin(stack, "/v1/admin/tenants/bootstrap",
                 {"tenantId": "acme", "apiKey": KEY, "inboundUrl": shared.url, "inboundTimeoutMs": 5000})
    assert boot.status_code == 200, boot.text
    shared_token = requests.post(stack.url + "/v1/pairings/token", json={"channel": "telegram"},
                                 headers={"Authorization": f"Bearer {KEY}"}, timeout=10).json()
    webhook(stack, private_update(SHARED_CHAT, shared_token["startCommand"]))

    # --- registration: final refusals only where a retry cannot help --------------------------------
    assert register(stack, {"openclawId": OPENCLAW_ID, "inboundUrl": instance.url}, key="wrong").status_code == 401
    bad = register(stack, {"openclawId": "not-hex", "inboundUrl": instance.url})
    assert (bad.status_code, bad.json()["code"]) == (400, "INVALID_REQUEST")
    taken = register(stack, {"openclawId": "acme", "inboundUrl": instance.url})
    assert taken.status_code == 400  # not a 64-hex id at all
    reg = register(stack, {"openclawId": OPENCLAW_ID, "inboundUrl": instance.url, "inboundTimeoutMs": 30000})
    assert reg.status_code == 200, reg.text
    answer = reg.json()
    assert answer["ok"] is True and answer["openclawId"] == OPENCLAW_ID and answer["tokenType"] == "Bearer"
    runtime = answer["runtimeToken"]
    got = claims(runtime)
    assert got["aud"] == ["mux-server"] and got["sub"] == OPENCLAW_ID
    assert got["scope"] == "mux:runtime mux:outbound mux:pairings mux:control"
    assert got["exp"] - got["iat"] == 86_400 and abs(answer["expiresAtMs"] - got["exp"] * 1000) < 1000
    first_kid = header(runtime)["kid"]
    jwks = requests.get(stack.url + "/.well-known/jwks.json", timeout=10).json()
    assert jwks == {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": jwks["keys"][0]["x"], "kid": first_kid,
                              "use": "sig", "alg": "EdDSA"}]}
    # A shared-key tenant's id and a JWT instance's id never mix.
    clash = admin(stack, "/v1/admin/tenants/bootstrap",
                  {"tenantId": OPENCLAW_ID, "apiKey": KEY + "x", "inboundUrl": shared.url})
    assert (clash.status_code, clash.json()["code"]) == (409, "TENANT_MODE_CONFLICT")

    # --- pairing through the admin token route ------------------------------------------------------
    minted = admin(stack, "/v1/admin/pairings/token", {"openclawId": OPENCLAW_ID, "channel": "telegram"})
    assert minted.status_code == 200, minted.text
    webhook(stack, private_update(JWT_CHAT, minted.json()["startCommand"]))
    pairings = wait_until(lambda: requests.get(
        stack.url + "/v1/pairings", timeout=10,
        headers={"Authorization": f"Bearer {runtime}", "X-OpenClaw-Id": OPENCLAW_ID}).json().get("items"))
    session = f"agent:main:telegram:direct:{JWT_CHAT}"
    assert [(p["routeKey"], p["sessionKeys"]) for p in pairings] == [(f"telegram:default:chat:{JWT_CHAT}", [session])]

    # --- inbound: both generations, each with its own auth --------------------------------------------
    webhook(stack, private_update(SHARED_CHAT, "hello from the shared-key chat"))
    webhook(stack, private_update(JWT_CHAT, "hello from the jwt chat"))
    assert shared.wait_for(lambda r: any(e["body"] == "hello from the shared-key chat" for e in r))
    assert instance.wait_for(lambda r: any(e["body"] == "hello from the jwt chat" for e in r)), check.refusals
    assert check.refusals == []
    delivered = instance.received[-1]
    assert delivered["openclawId"] == OPENCLAW_ID and delivered["sessionKey"] == session
    inbound_bearer = instance.headers[-1]["authorization"].split(" ", 1)[1]
    assert instance.headers[-1]["x-openclaw-id"] == OPENCLAW_ID
    inbound = claims(inbound_bearer)
    assert (inbound["aud"], inbound["scope"], inbound["sub"]) == (["openclaw-mux-inbound"], "mux:inbound", OPENCLAW_ID)
    assert inbound["exp"] - inbound["iat"] == 300
    assert shared.headers[-1]["authorization"] == f"Bearer {KEY}" and "openclawId" not in shared.received[-1]
    assert "x-openclaw-id" not in shared.headers[-1]

    # --- outbound with the runtime JWT ---------------------------------------------------------------
    sent = runtime_post(stack, runtime, {"channel": "telegram", "sessionKey": session, "text": "reply",
                                         "openclawId": OPENCLAW_ID})
    assert sent.status_code == 200, sent.text
    assert sent.json()["messageId"]
    assert any(b.get("chat_id") in (JWT_CHAT, str(JWT_CHAT)) and b.get("text") == "reply"
               for b in tg.bodies("sendMessage"))
    typing = runtime_post(stack, runtime, {"op": "action", "action": "typing", "channel": "telegram",
                                           "sessionKey": session, "openclawId": OPENCLAW_ID})
    assert typing.status_code == 200, typing.text
    # Refusals: no X-OpenClaw-Id, a body naming someone else, and the inbound token replayed as a runtime one.
    body = {"channel": "telegram", "sessionKey": session, "text": "x", "openclawId": OPENCLAW_ID}
    assert runtime_post(stack, runtime, body, openclaw_id=None).status_code == 401
    mismatch = runtime_post(stack, runtime, {**body, "openclawId": "f" * 64})
    assert (mismatch.status_code, mismatch.json()["code"]) == (401, "OPENCLAW_ID_MISMATCH")
    assert runtime_post(stack, runtime, {k: v for k, v in body.items() if k != "openclawId"}).status_code == 401
    assert runtime_post(stack, inbound_bearer, body).status_code == 401
    # The shared-key tenant is untouched by all this.
    assert requests.post(stack.url + SEND, json={"channel": "telegram", "sessionKey":
                         f"agent:main:telegram:direct:{SHARED_CHAT}", "text": "shared reply"},
                         headers={"Authorization": f"Bearer {KEY}"}, timeout=10).status_code == 200

    # --- signing-key rotation without downtime ---------------------------------------------------------
    rotated = admin(stack, "/v1/admin/signing-keys/rotate", {"activateAfterSec": 0})
    assert rotated.status_code == 200, rotated.text
    keys = rotated.json()["keys"]
    new_kid = next(k["kid"] for k in keys if k["signing"])
    assert new_kid != first_kid and {k["kid"] for k in keys} == {first_kid, new_kid}
    old = next(k for k in keys if k["kid"] == first_kid)
    assert old["retiresAtMs"] >= int(time.time() * 1000) + 86_400_000  # until its runtime tokens expire
    served = {k["kid"] for k in requests.get(stack.url + "/.well-known/jwks.json", timeout=10).json()["keys"]}
    assert served == {first_kid, new_kid}
    # The old runtime token keeps working; a new registration gets a token from the new key.
    assert runtime_post(stack, runtime, {**body, "text": "after rotation"}).status_code == 200
    again = register(stack, {"openclawId": OPENCLAW_ID, "inboundUrl": instance.url})
    assert header(again.json()["runtimeToken"])["kid"] == new_kid
    assert runtime_post(stack, again.json()["runtimeToken"], {**body, "text": "new token"}).status_code == 200
    # Inbound is then signed by the new key, once the queue worker (another process, as another Lambda function
    # in AWS) reloads its key set (every 5 s): until then by the old one, which OpenClaw still trusts. The fake
    # OpenClaw refetches the JWKS once, for the unknown kid.
    fetches = check.jwks_fetches
    kids: list[str] = []

    def signed_by_the_new_key() -> bool:
        text = f"after the rotation {len(kids)}"
        webhook(stack, private_update(JWT_CHAT, text))
        assert instance.wait_for(lambda r: any(e["body"] == text for e in r)), check.refusals
        kids.append(header(instance.headers[-1]["authorization"].split(" ", 1)[1])["kid"])
        return kids[-1] == new_kid

    wait_until(signed_by_the_new_key, 30, "inbound signed by the new key", interval=0.5)
    assert set(kids) <= {first_kid, new_kid}
    assert check.jwks_fetches == fetches + 1 and check.refusals == []

    # An emergency rotation (signing at once) meets OpenClaw's JWKS cooldown: the instance refuses the unknown kid
    # with 401 JWT_INVALID, and the mux retries the forward until the instance may refetch.
    # (Until the worker reloads its key set, within 5 s, the old key signs and the instance accepts.)
    check.cooldown_sec = 300
    assert admin(stack, "/v1/admin/signing-keys/rotate", {"activateAfterSec": 0}).status_code == 200
    sent: list[str] = []

    def refused() -> bool:
        if not check.refusals:
            sent.append(f"during the cooldown {len(sent)}")
            webhook(stack, private_update(JWT_CHAT, sent[-1]))
            instance.wait_for(lambda r: bool(check.refusals) or any(e["body"] == sent[-1] for e in r), timeout=10)
        return bool(check.refusals)

    wait_until(refused, 30, "a refusal of the unknown kid", interval=0.5)
    assert [(s, c) for s, c, _ in check.refusals] == [(401, "JWT_INVALID")] and "cooling" in check.refusals[0][2]
    check.cooldown_sec = 0  # as if the 5 minutes had passed
    assert instance.wait_for(lambda r: all(any(e["body"] == text for e in r) for text in sent), timeout=20)

    # --- listing: the operator sees which tenants are JWT instances ----------------------------------
    listed = admin(stack, "/v1/admin/tenants", method="GET").json()["items"]
    assert {(t["tenantId"], t["mode"]) for t in listed} == {("acme", "shared-key"), (OPENCLAW_ID, "jwt")}
    from tests.muxctl.support import run_json

    shown = run_json(["instances", "list", "--url", stack.url, "--admin-token", ADMIN])
    assert [i["tenantId"] for i in shown["items"]] == [OPENCLAW_ID]
