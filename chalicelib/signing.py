"""Ed25519 JWTs (JWS compact, alg EdDSA): key generation, JWK form, signing, and verification of signature
and claims — no storage, no clock of its own (callers pass the time)."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

ALG = "EdDSA"
# OpenClaw verifies with 60 s of clock tolerance (jose `clockTolerance: 60`); the mux uses the same for its own.
CLOCK_TOLERANCE_SEC = 60


class TokenError(Exception):
    """The token is not a valid, current JWT for this purpose (the sentence says why; safe to log)."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise TokenError("not base64url") from None


def new_private_seed() -> bytes:
    """32 random bytes: the Ed25519 private key (RFC 8032 seed)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    key = Ed25519PrivateKey.generate()
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def public_bytes(seed: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public: bytes) -> str:
    """A stable kid: the first 16 hex digits of SHA-256 over the raw public key."""
    return hashlib.sha256(public).hexdigest()[:16]


def jwk(public: bytes, kid: str) -> dict[str, str]:
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(public), "kid": kid, "use": "sig", "alg": ALG}


def sign(seed: bytes, kid: str, claims: dict[str, Any]) -> str:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    header = {"alg": ALG, "typ": "JWT", "kid": kid}
    signing_input = _segment(header) + "." + _segment(claims)
    signature = Ed25519PrivateKey.from_private_bytes(seed).sign(signing_input.encode("ascii"))
    return signing_input + "." + b64url(signature)


def _segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8"))


@dataclass(frozen=True)
class Parsed:
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def parse(token: str) -> Parsed:
    """Split and decode a compact JWS without checking anything but its shape."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("not a compact JWS")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except ValueError:
        raise TokenError("header or payload is not JSON") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenError("header or payload is not a JSON object")
    return Parsed(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), b64url_decode(parts[2]))


def looks_like_jwt(token: str) -> bool:
    """Cheap shape test (three segments, a JSON header naming alg): a tenant key never routes here by chance
    unless it is itself a JWT-shaped string, and then it still has to verify."""
    try:
        return "alg" in parse(token).header
    except TokenError:
        return False


def verify(
    parsed: Parsed,
    public: bytes,
    *,
    audience: str,
    scope: str | tuple[str, ...],
    now_sec: int,
    subject: str | None = None,
) -> dict[str, Any]:
    """Check signature, then claims, the way OpenClaw's verifier does (jose `jwtVerify` + its scope check):
    alg EdDSA, `aud` (string or list) holding `audience`, `exp`/`nbf` within the clock tolerance, `sub`
    (equal to `subject` when given), and a space-separated `scope` holding one of `scope`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if parsed.header.get("alg") != ALG:
        raise TokenError("unexpected alg")
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(parsed.signature, parsed.signing_input)
    except (InvalidSignature, ValueError):
        raise TokenError("signature verification failed") from None
    claims = parsed.claims
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise TokenError("missing exp")
    if exp <= now_sec - CLOCK_TOLERANCE_SEC:
        raise TokenError("token expired")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and nbf > now_sec + CLOCK_TOLERANCE_SEC:
        raise TokenError("token not yet valid")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if audience not in audiences:
        raise TokenError("audience mismatch")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or (subject is not None and sub != subject):
        raise TokenError("subject mismatch")
    wanted = (scope,) if isinstance(scope, str) else scope
    granted = str(claims.get("scope", "")).split() if isinstance(claims.get("scope"), str) else []
    if not any(s in granted for s in wanted):
        raise TokenError("scope mismatch")
    return claims
