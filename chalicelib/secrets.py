"""Secrets at rest: tenant keys (SHA-256 for lookups, KMS envelope for the mux → OpenClaw bearer), the JWT signing
key's KMS envelope, constant-time checks."""

from __future__ import annotations

import base64
import hmac
import threading
from collections import OrderedDict

from chalicelib import aws
from chalicelib.config import get_settings
from chalicelib.storage.table import sha256_hex

_cache: OrderedDict[str, str] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_MAX = 2048


def key_hash(key: str) -> str:
    return sha256_hex(key)


def same_secret(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; False when either side is missing."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def encrypt_key(tenant_id: str, key: str) -> str:
    resp = aws.kms().encrypt(
        KeyId=get_settings().require("kms_key_id"),
        Plaintext=key.encode("utf-8"),
        EncryptionContext={"tenantId": tenant_id},
    )
    return base64.b64encode(resp["CiphertextBlob"]).decode("ascii")


def decrypt_key(tenant_id: str, ciphertext: str) -> str:
    """Decrypt a tenant key. Cached by ciphertext, so a rotation (new ciphertext) is never served stale."""
    with _cache_lock:
        hit = _cache.get(ciphertext)
        if hit is not None:
            _cache.move_to_end(ciphertext)
            return hit
    resp = aws.kms().decrypt(
        CiphertextBlob=base64.b64decode(ciphertext), EncryptionContext={"tenantId": tenant_id}
    )
    plain = bytes(resp["Plaintext"]).decode("utf-8")
    with _cache_lock:
        _cache[ciphertext] = plain
        while len(_cache) > _CACHE_MAX:
            _cache.popitem(last=False)
    return plain


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def encrypt_signing_key(kid: str, seed: bytes) -> str:
    """Envelope the JWT signing key's private seed under the same KMS key as tenant keys (bound to its kid)."""
    resp = aws.kms().encrypt(
        KeyId=get_settings().require("kms_key_id"), Plaintext=seed, EncryptionContext={"jwtSigningKey": kid}
    )
    return base64.b64encode(resp["CiphertextBlob"]).decode("ascii")


def decrypt_signing_key(kid: str, ciphertext: str) -> bytes:
    resp = aws.kms().decrypt(CiphertextBlob=base64.b64decode(ciphertext), EncryptionContext={"jwtSigningKey": kid})
    return bytes(resp["Plaintext"])
