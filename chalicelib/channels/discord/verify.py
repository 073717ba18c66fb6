"""Discord webhook checks: Ed25519 interaction signatures and the gateway relay's HMAC, over the exact raw body.

Both reject a timestamp more than `WINDOW_S` (300 s) from the mux's clock. Discord signs each interaction
when it sends it and never redelivers one (a user who gets no answer in 3 s sees an error and tries again),
so a fresh interaction is always seconds old: the window only refuses replays of a captured request, with
room for clock skew. The relay's window is CONTRACT §3.4's ±300 s.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from chalicelib.errors import ConfigurationError
from chalicelib.secrets import same_secret

WINDOW_S = 300
_HEX_SIGNATURE = re.compile(r"^[0-9a-fA-F]{128}$")
_HEX_KEY = re.compile(r"^[0-9a-fA-F]{64}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


def _fresh(timestamp: str | None, now_s: float, window_s: int) -> bool:
    return timestamp is not None and bool(_TIMESTAMP.match(timestamp)) and abs(now_s - int(timestamp)) <= window_s


def interaction_problem(raw_body: bytes, signature: str | None, timestamp: str | None, public_key_hex: str,
                        *, now_s: float, window_s: int = WINDOW_S) -> str | None:
    """Why an interaction request is not Discord's (`missing`, `stale`, `bad_signature`), or None when it is:
    `X-Signature-Ed25519` = Ed25519(key, `X-Signature-Timestamp` + raw body), the timestamp within the window."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if not _HEX_KEY.match(public_key_hex.strip()):
        raise ConfigurationError("DISCORD_PUBLIC_KEY must be the application's 64-character hex public key.",
                                 variable="DISCORD_PUBLIC_KEY")
    if not signature or not timestamp:
        return "missing"
    if not _HEX_SIGNATURE.match(signature.strip()):
        return "bad_signature"
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex.strip()))
    try:
        # Verified before the timestamp is judged, so "stale" is only ever said of a genuine request.
        key.verify(bytes.fromhex(signature.strip()), timestamp.encode("utf-8") + raw_body)
    except InvalidSignature:
        return "bad_signature"
    if not _fresh(timestamp.strip(), now_s, window_s):
        return "stale"
    return None


def relay_signature(secret: str, timestamp: str, raw_body: bytes) -> str:
    """hex(HMAC-SHA256(secret, timestamp + "." + raw body)), as the gateway relay signs (CONTRACT §3.4)."""
    return hmac.new(secret.encode("utf-8"), timestamp.encode("utf-8") + b"." + raw_body, hashlib.sha256).hexdigest()


def relay_problem(raw_body: bytes, signature: str | None, timestamp: str | None, secret: str,
                  *, now_s: float, window_s: int = WINDOW_S) -> str | None:
    """Why a gateway post is not the relay's (`missing`, `bad_timestamp`, `stale`, `bad_signature`), or
    None when it is."""
    if not signature or not timestamp:
        return "missing"
    ts = timestamp.strip()
    if not _TIMESTAMP.match(ts):
        return "bad_timestamp"
    if not same_secret(signature.strip().lower(), relay_signature(secret, ts, raw_body)):
        return "bad_signature"
    if not _fresh(ts, now_s, window_s):
        return "stale"
    return None
