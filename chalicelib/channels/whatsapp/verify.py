"""Meta's webhook checks: the GET subscription handshake and X-Hub-Signature-256 over the exact raw body."""

from __future__ import annotations

import hashlib
import hmac

from chalicelib.secrets import same_secret

SIGNATURE_PREFIX = "sha256="


def signature_valid(raw_body: bytes, header: str | None, app_secret: str) -> bool:
    """`sha256=<hex HMAC-SHA256(app secret, raw body)>`, compared in constant time (hex case ignored)."""
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(app_secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()
    return same_secret(header[len(SIGNATURE_PREFIX):].strip().lower(), expected)


def handshake_challenge(mode: str | None, verify_token: str | None, challenge: str | None,
                        expected_token: str) -> str | None:
    """The challenge to echo when Meta's subscription request is genuine, else None (→ 403)."""
    if mode != "subscribe" or challenge is None or not same_secret(verify_token, expected_token):
        return None
    return challenge
