"""Ed25519 JWTs (chalicelib.signing) and the fake OpenClaw's check of them (tests/fakes/openclaw_jwt.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chalicelib import signing
from tests.fakes.openclaw_jwt import JwtInboundCheck

ID = "ab" * 32
NOW = 1_800_000_000


def claims(**over: Any) -> dict[str, Any]:
    base = {"sub": ID, "aud": ["openclaw-mux-inbound"], "scope": "mux:inbound", "iat": NOW, "nbf": NOW,
            "exp": NOW + 300}
    return {**base, **over}


@pytest.fixture
def key() -> tuple[bytes, bytes, str]:
    seed = signing.new_private_seed()
    public = signing.public_bytes(seed)
    return seed, public, signing.key_id(public)


def check(token: str, public: bytes, now: int = NOW, subject: str | None = ID) -> dict[str, Any]:
    return signing.verify(signing.parse(token), public, audience="openclaw-mux-inbound", scope="mux:inbound",
                          now_sec=now, subject=subject)


def test_a_signed_token_verifies_and_carries_kid_and_alg(key: tuple[bytes, bytes, str]) -> None:
    seed, public, kid = key
    token = signing.sign(seed, kid, claims())
    assert signing.parse(token).header == {"alg": "EdDSA", "typ": "JWT", "kid": kid}
    assert check(token, public)["sub"] == ID
    assert signing.jwk(public, kid) == {"kty": "OKP", "crv": "Ed25519", "x": signing.b64url(public), "kid": kid,
                                        "use": "sig", "alg": "EdDSA"}


@pytest.mark.parametrize(
    ("over", "now", "why"),
    [
        ({}, NOW + 300 + 60, "token expired"),  # exp <= now - 60: refused, as jose does
        ({"nbf": NOW + 61}, NOW, "token not yet valid"),
        ({"aud": ["mux-server"]}, NOW, "audience mismatch"),
        ({"sub": "cd" * 32}, NOW, "subject mismatch"),
        ({"scope": "mux:outbound"}, NOW, "scope mismatch"),
        ({"exp": None}, NOW, "missing exp"),
    ],
)
def test_claims_are_refused_like_openclaw_refuses_them(
    key: tuple[bytes, bytes, str], over: dict[str, Any], now: int, why: str
) -> None:
    seed, public, kid = key
    with pytest.raises(signing.TokenError, match=why):
        check(signing.sign(seed, kid, claims(**over)), public, now)


def test_expiry_has_sixty_seconds_of_tolerance(key: tuple[bytes, bytes, str]) -> None:
    seed, public, kid = key
    assert check(signing.sign(seed, kid, claims()), public, NOW + 300 + 59)


def test_a_tampered_token_or_another_key_fails(key: tuple[bytes, bytes, str]) -> None:
    seed, public, kid = key
    token = signing.sign(seed, kid, claims())
    head, _, sig = token.split(".")
    forged = head + "." + signing.b64url(json.dumps(claims(sub="cd" * 32)).encode()) + "." + sig
    with pytest.raises(signing.TokenError, match="signature"):
        check(forged, public, subject=None)
    other = signing.public_bytes(signing.new_private_seed())
    with pytest.raises(signing.TokenError, match="signature"):
        check(token, other)
    unsigned = signing.b64url(b'{"alg":"none"}') + "." + token.split(".")[1] + "."
    with pytest.raises(signing.TokenError, match="alg"):
        check(unsigned, public)
    assert not signing.looks_like_jwt("tenant-key-0123456789abcdefghij")


# --- the fake OpenClaw's check ------------------------------------------------------------------
@pytest.fixture
def jwks_server(key: tuple[bytes, bytes, str]) -> Iterator[str]:
    _, public, kid = key
    body = json.dumps({"keys": [signing.jwk(public, kid)]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200 if self.path == "/.well-known/jwks.json" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_fake_refuses_in_openclaws_order(key: tuple[bytes, bytes, str], jwks_server: str) -> None:
    import time

    seed, _, kid = key
    now = int(time.time())
    good = signing.sign(seed, kid, claims(iat=now, nbf=now, exp=now + 300))
    fake = JwtInboundCheck(ID, jwks_server)
    body = json.dumps({"openclawId": ID}).encode()
    ok = {"authorization": f"Bearer {good}", "x-openclaw-id": ID}

    def code(headers: dict[str, str], raw: bytes = body) -> str | None:
        refused = fake.refuse(headers, raw)
        return None if refused is None else str(refused[1].get("code", refused[0]))

    assert code({"x-openclaw-id": "nope"}) == "MISSING_BEARER"  # before the id check
    assert code({**ok, "x-openclaw-id": "nope"}) == "OPENCLAW_ID_MISMATCH"  # before the JWT check
    assert code({**ok, "authorization": "Bearer x.y.z"}, b"not json") == "JWT_INVALID"  # before the body
    assert code(ok, b"not json") == "400"
    assert code(ok, json.dumps({"openclawId": "cd" * 32}).encode()) == "PAYLOAD_OPENCLAW_ID_MISMATCH"
    wrong_scope = signing.sign(seed, kid, claims(iat=now, nbf=now, exp=now + 300, scope="mux:runtime"))
    assert code({**ok, "authorization": f"Bearer {wrong_scope}"}) == "JWT_INVALID"
    assert code(ok) is None
    assert fake.jwks_fetches == 1  # cached after the first lookup
