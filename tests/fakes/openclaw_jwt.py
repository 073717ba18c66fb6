"""OpenClaw's inbound check at 714b97af4 (src/gateway/mux-http.ts + mux-jwt.ts), for the fake OpenClaw server.

Refusals in OpenClaw's order: no bearer (401 MISSING_BEARER), `X-OpenClaw-Id` ≠ its id (401 OPENCLAW_ID_MISMATCH),
JWT not valid (401 JWT_INVALID), body not JSON (400), body `openclawId` ≠ its id (401
PAYLOAD_OPENCLAW_ID_MISMATCH). The JWT is checked as jose's `jwtVerify` with a remote JWKS does it: the key is
looked up by `kid` in `<baseUrl>/.well-known/jwks.json` (kty OKP, crv Ed25519, alg EdDSA, use sig), cached for
10 minutes and refetched on an unknown kid unless fetched less than `cooldown_sec` ago (OpenClaw: 5 minutes);
audience `openclaw-mux-inbound`, subject = its id, `exp`/`nbf` with 60 s tolerance, then scope `mux:inbound`.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from typing import Any

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

TOLERANCE_SEC = 60
CACHE_MAX_AGE_SEC = 600


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class JwtInboundCheck:
    def __init__(self, openclaw_id: str, base_url: str, *, cooldown_sec: float = 300.0) -> None:
        self.openclaw_id = openclaw_id
        self.base_url = base_url.rstrip("/")
        self.cooldown_sec = cooldown_sec
        self.jwks_fetches = 0
        self.refusals: list[tuple[int, str, str]] = []  # (status, code, details)
        self._keys: list[dict[str, Any]] | None = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    # --- JWKS (jose createRemoteJWKSet) ----------------------------------------------------------
    def _reload(self) -> None:
        resp = requests.get(f"{self.base_url}/.well-known/jwks.json", timeout=5)
        resp.raise_for_status()
        self._keys = list(resp.json()["keys"])
        self._fetched_at = time.monotonic()
        self.jwks_fetches += 1

    def _candidates(self, header: dict[str, Any]) -> list[dict[str, Any]]:
        assert self._keys is not None
        return [
            k for k in self._keys
            if k.get("kty") == "OKP" and k.get("crv") == "Ed25519"
            and ("kid" not in header or k.get("kid") == header["kid"])
            and k.get("alg", "EdDSA") == "EdDSA" and k.get("use", "sig") == "sig"
        ]

    def _key_for(self, header: dict[str, Any]) -> list[dict[str, Any]]:
        with self._lock:
            if self._keys is None or time.monotonic() - self._fetched_at >= CACHE_MAX_AGE_SEC:
                self._reload()
            found = self._candidates(header)
            if not found:
                if time.monotonic() - self._fetched_at < self.cooldown_sec:
                    raise ValueError("JWKSNoMatchingKey (cooling down)")
                self._reload()
                found = self._candidates(header)
            if not found:
                raise ValueError("JWKSNoMatchingKey")
            return found

    def verify(self, token: str, now: float | None = None) -> dict[str, Any]:
        parts = token.split(".")
        if len(parts) != 3:
            raise ValueError("JWSInvalid")
        header = json.loads(_b64(parts[0]))
        payload = json.loads(_b64(parts[1]))
        if header.get("alg") != "EdDSA":
            raise ValueError("JOSEAlgNotAllowed")
        signed = f"{parts[0]}.{parts[1]}".encode()
        for jwk in self._key_for(header):
            try:
                Ed25519PublicKey.from_public_bytes(_b64(jwk["x"])).verify(_b64(parts[2]), signed)
                break
            except InvalidSignature:
                continue
        else:
            raise ValueError("JWSSignatureVerificationFailed")
        current = int(time.time() if now is None else now)
        if "iat" in payload and not isinstance(payload["iat"], int | float):
            raise ValueError('"iat" claim must be a number')
        if isinstance(payload.get("nbf"), int | float) and payload["nbf"] > current + TOLERANCE_SEC:
            raise ValueError('"nbf" claim timestamp check failed')
        if not isinstance(payload.get("exp"), int | float) or payload["exp"] <= current - TOLERANCE_SEC:
            raise ValueError('"exp" claim timestamp check failed')
        aud = payload.get("aud")
        if "openclaw-mux-inbound" not in ([aud] if isinstance(aud, str) else aud or []):
            raise ValueError('unexpected "aud" claim value')
        if payload.get("sub") != self.openclaw_id:
            raise ValueError('unexpected "sub" claim value')
        return dict(payload)

    # --- mux-http.ts ----------------------------------------------------------------------------
    def refuse(self, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]] | None:
        """None when OpenClaw would accept the request's auth; else its status and answer."""
        answer = self._refusal(headers, raw)
        if answer is not None:
            self.refusals.append((answer[0], str(answer[1].get("code", "")), str(answer[1].get("details", ""))))
        return answer

    def _refusal(self, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]] | None:
        auth = headers.get("authorization", "")
        match = re.match(r"^Bearer\s+(.+)$", auth, re.IGNORECASE) if auth.strip() else None
        token = match.group(1).strip() if match else ""
        if not token:
            return 401, {"ok": False, "error": "unauthorized", "code": "MISSING_BEARER"}
        if headers.get("x-openclaw-id", "").strip() != self.openclaw_id:
            return 401, {"ok": False, "error": "unauthorized", "code": "OPENCLAW_ID_MISMATCH"}
        try:
            payload = self.verify(token)
        except Exception as exc:  # jose throws many kinds; OpenClaw maps them all to JWT_INVALID
            return 401, {"ok": False, "error": "unauthorized", "code": "JWT_INVALID", "details": str(exc)}
        if "mux:inbound" not in str(payload.get("scope", "")).split():
            return 401, {"ok": False, "error": "unauthorized", "code": "JWT_INVALID", "details": "jwt scope mismatch"}
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, {"ok": False, "error": "invalid json"}
        claimed = body.get("openclawId") if isinstance(body, dict) else None
        if not isinstance(claimed, str) or claimed.strip() != self.openclaw_id:
            return 401, {"ok": False, "error": "unauthorized", "code": "PAYLOAD_OPENCLAW_ID_MISMATCH"}
        return None
