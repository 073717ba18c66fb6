"""Runtime-JWT OpenClaw instances (CONTRACT §14): registration, the mux's signing keys (JWKS, rotation), runtime
tokens (OpenClaw → mux) and the per-attempt inbound tokens (mux → OpenClaw).

An instance is a tenant in mode "jwt" whose tenant id is its openclawId. It has no shared key: its key-hash lock
item is `jwt:<id>`, which no SHA-256 of a presented key can ever equal, so only its runtime JWT authenticates it.

Signing keys are Ed25519, generated here, their private seed enveloped under the KMS key in the table (see the
README for why not a KMS-held key). A key is trusted (served in the JWKS, accepted on runtime tokens) from its
creation until its retirement; it signs from `activatesAtMs`. Rotation publishes the new key first and lets it
sign only after a delay, because OpenClaw caches the JWKS and refetches on an unknown kid at most every 5 min;
the old key stays trusted until every runtime token it signed has expired.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from chalicelib import observability, secrets, signing
from chalicelib.clock import now_ms
from chalicelib.config import get_settings
from chalicelib.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ServiceUnavailableError,
    UnauthorizedError,
)
from chalicelib.models import (
    Jwk,
    JwksResponse,
    RegisterRequest,
    RegisterResponse,
    RotateSigningKeyRequest,
    SigningKey,
    SigningKeyInfo,
    SigningKeysResponse,
    Tenant,
)
from chalicelib.services.urls import UnresolvedHostError, check_inbound_url
from chalicelib.storage import signing_keys as key_store
from chalicelib.storage import table
from chalicelib.storage import tenants as tenant_store

RUNTIME_AUDIENCE = "mux-server"
RUNTIME_SCOPE = "mux:runtime mux:outbound mux:pairings mux:control"
INBOUND_AUDIENCE = "openclaw-mux-inbound"
INBOUND_SCOPE = "mux:inbound"
# OpenClaw re-registers when less than max(6 h, 10 %) of a token's life is left: 24 h gives 18 h of reuse.
RUNTIME_TTL_SEC = 86_400
INBOUND_TTL_SEC = 300
# How long a container trusts its copy of the key set (one Query per this long per busy container): a rotation
# or an emergency retirement made through another container (the API function vs the queue worker) takes effect
# here within it. An unknown kid reloads it, at most every KEYSET_RELOAD_MIN_MS.
KEYSET_CACHE_MS = 5_000
KEYSET_RELOAD_MIN_MS = 2_000
WRITE_ATTEMPTS = 5
INBOUND_TIMEOUT_RANGE = (100, 60_000)
DEFAULT_INBOUND_TIMEOUT_MS = 15_000

_lock = threading.Lock()
_keyset: tuple[int, list[SigningKey]] | None = None  # (loaded at ms, keys)
_seeds: dict[str, bytes] = {}


def jwt_key_hash(openclaw_id: str) -> str:
    return f"jwt:{openclaw_id}"


# --- signing keys -----------------------------------------------------------------------------
def _load(now: int) -> list[SigningKey]:
    global _keyset
    keys = key_store.all_keys()
    with _lock:
        _keyset = (now, keys)
    return keys


def _trusted(now: int, *, reload: bool = False) -> list[SigningKey]:
    with _lock:
        cached = _keyset
    if reload or cached is None or now - cached[0] > KEYSET_CACHE_MS:
        keys = _load(now)
    else:
        keys = cached[1]
    return [k for k in keys if k.retires_at_ms is None or k.retires_at_ms > now]


def _active(keys: list[SigningKey], now: int) -> SigningKey | None:
    live = [k for k in keys if k.activates_at_ms <= now]
    return max(live, key=lambda k: (k.activates_at_ms, k.kid)) if live else None


def _new_key(now: int, activates_at_ms: int) -> SigningKey:
    seed = signing.new_private_seed()
    public = signing.public_bytes(seed)
    kid = signing.key_id(public)
    key = SigningKey(
        kid=kid,
        x=signing.b64url(public),
        ciphertext=secrets.encrypt_signing_key(kid, seed),
        created_at_ms=now,
        activates_at_ms=activates_at_ms,
    )
    key_store.put(key)
    with _lock:
        _seeds[kid] = seed
    return key


def _signer(now: int) -> SigningKey:
    key = _active(_trusted(now), now)
    if key is None:
        # First use on this table (or every key retired): make one. Two containers racing here both create a
        # key; both are trusted and the newest signs, which is harmless.
        key = _active(_trusted(now, reload=True), now) or _new_key(now, now)
        _load(now)
    return key


def _seed(key: SigningKey) -> bytes:
    with _lock:
        seed = _seeds.get(key.kid)
    if seed is None:
        seed = secrets.decrypt_signing_key(key.kid, key.ciphertext)
        with _lock:
            _seeds[key.kid] = seed
    return seed


def _mint(subject: str, audience: str, scope: str, ttl_sec: int, now: int) -> tuple[str, int]:
    key = _signer(now)
    now_sec = now // 1000
    claims: dict[str, Any] = {
        "iss": get_settings().base_url,
        "sub": subject,
        "aud": [audience],
        "scope": scope,
        "jti": str(uuid.uuid4()),
        "iat": now_sec,
        "nbf": now_sec,
        "exp": now_sec + ttl_sec,
    }
    return signing.sign(_seed(key), key.kid, claims), (now_sec + ttl_sec) * 1000


def jwks() -> JwksResponse:
    now = now_ms()
    keys = _trusted(now)
    if not keys:
        _signer(now)
        keys = _trusted(now)
    return JwksResponse(keys=[Jwk(x=k.x, kid=k.kid) for k in sorted(keys, key=lambda k: k.created_at_ms)])


def _info(keys: list[SigningKey], now: int) -> SigningKeysResponse:
    active = _active(keys, now)
    return SigningKeysResponse(
        keys=[
            SigningKeyInfo(
                kid=k.kid,
                createdAtMs=k.created_at_ms,
                activatesAtMs=k.activates_at_ms,
                retiresAtMs=k.retires_at_ms,
                signing=active is not None and k.kid == active.kid,
            )
            for k in sorted(keys, key=lambda k: k.created_at_ms)
        ]
    )


def list_keys() -> SigningKeysResponse:
    now = now_ms()
    return _info(_trusted(now, reload=True), now)


def rotate(req: RotateSigningKeyRequest) -> SigningKeysResponse:
    """Publish a new key that signs from now + activateAfterSec; every older key stays trusted until the runtime
    tokens it may still sign have expired (or, with retireOthers, stops being trusted now)."""
    now = now_ms()
    older = _trusted(now, reload=True)
    new = _new_key(now, now + req.activateAfterSec * 1000)
    retire_at = now if req.retireOthers else (
        new.activates_at_ms + (RUNTIME_TTL_SEC + signing.CLOCK_TOLERANCE_SEC) * 1000
    )
    for key in older:
        try:
            key_store.set_retirement(key.kid, retire_at)
        except Exception as exc:
            if not table.is_conditional_failure(exc):  # an earlier retirement is already set: kept
                raise
    if req.retireOthers:
        with _lock:
            for key in older:
                _seeds.pop(key.kid, None)
    observability.count("SigningKeyRotated")
    return _info(_trusted(now, reload=True), now)


def reset_cache() -> None:
    """Forget cached keys (tests switching tables; a container is otherwise fine with the cache)."""
    global _keyset
    with _lock:
        _keyset = None
        _seeds.clear()


# --- tokens -----------------------------------------------------------------------------------
def inbound_token(openclaw_id: str) -> str:
    """A fresh 5-minute token for one delivery attempt to this instance (audience and scope OpenClaw checks)."""
    token, _ = _mint(openclaw_id, INBOUND_AUDIENCE, INBOUND_SCOPE, INBOUND_TTL_SEC, now_ms())
    return token


def _verify_runtime(token: str, now: int) -> str | None:
    """The subject of a valid runtime token signed by a trusted key, or None."""
    try:
        parsed = signing.parse(token)
    except signing.TokenError:
        return None
    kid = parsed.header.get("kid")
    if not isinstance(kid, str):
        return None
    keys = {k.kid: k for k in _trusted(now)}
    if kid not in keys:
        with _lock:
            loaded_at = _keyset[0] if _keyset else 0
        if now - loaded_at < KEYSET_RELOAD_MIN_MS:
            return None
        keys = {k.kid: k for k in _trusted(now, reload=True)}
        if kid not in keys:
            return None
    try:
        claims = signing.verify(
            parsed,
            signing.b64url_decode(keys[kid].x),
            audience=RUNTIME_AUDIENCE,
            scope=tuple(RUNTIME_SCOPE.split()),
            now_sec=now // 1000,
        )
    except signing.TokenError:
        return None
    return str(claims["sub"])


def authenticate_runtime(token: str | None, openclaw_id_header: str | None) -> Tenant | None:
    """The enabled JWT instance a runtime token names, when `X-OpenClaw-Id` names it too; else None."""
    if not token or not signing.looks_like_jwt(token):
        return None
    subject = _verify_runtime(token, now_ms())
    if subject is None:
        return None
    if not secrets.same_secret((openclaw_id_header or "").strip(), subject):
        return None
    tenant = tenant_store.get(subject)
    if tenant is None or tenant.mode != "jwt" or tenant.disabled:
        return None
    return tenant


# --- registration -----------------------------------------------------------------------------
def require_register_key(bearer: str | None) -> None:
    expected = get_settings().register_key
    if expected is None:
        # The route does not exist unless a register key is configured (CONTRACT §1).
        raise NotFoundError("No route matches this path.")
    if not secrets.same_secret(bearer, expected):
        observability.count("AuthFailures", route="register")
        raise UnauthorizedError("A valid register key is required.")


def register(req: RegisterRequest) -> RegisterResponse:
    """Upsert the instance by openclawId and mint its runtime token.

    OpenClaw stops registering for good on 400/401/404/409, so those answer only what a retry cannot fix (bad
    body, wrong key, route off, id taken by a shared-key tenant); passing troubles are 403 (instance disabled:
    it comes back by itself once enabled) or 503 (inbound host does not resolve yet, concurrent change)."""
    settings = get_settings()
    try:
        url = check_inbound_url(req.inboundUrl, allow_private=settings.allow_private_inbound_urls)
    except UnresolvedHostError as exc:
        raise ServiceUnavailableError(exc.message, code="INBOUND_URL_UNRESOLVED") from None
    low, high = INBOUND_TIMEOUT_RANGE
    timeout = DEFAULT_INBOUND_TIMEOUT_MS if req.inboundTimeoutMs is None else req.inboundTimeoutMs
    timeout = max(low, min(high, timeout))
    openclaw_id = req.openclawId
    for _ in range(WRITE_ATTEMPTS):
        now = now_ms()
        existing = tenant_store.get(openclaw_id)
        if existing is not None and existing.mode != "jwt":
            raise ConflictError(
                "This openclawId is the id of a shared-key tenant on this mux.", code="OPENCLAW_ID_IN_USE"
            )
        if existing is not None and existing.disabled:
            raise ForbiddenError("This OpenClaw instance is disabled on this mux.", code="INSTANCE_DISABLED")
        try:
            if existing is None:
                tenant_store.save(
                    Tenant(
                        tenant_id=openclaw_id,
                        name=openclaw_id,
                        inbound_url=url,
                        inbound_timeout_ms=timeout,
                        key_hash=jwt_key_hash(openclaw_id),
                        key_ciphertext="",
                        created_at_ms=now,
                        updated_at_ms=now,
                        mode="jwt",
                    ),
                    None,
                )
            elif existing.inbound_url != url or existing.inbound_timeout_ms != timeout:
                tenant_store.update_fields(openclaw_id, inboundUrl=url, inboundTimeoutMs=timeout, updatedAtMs=now)
        except tenant_store.ConcurrentChangeError:
            continue
        except ConflictError:
            continue
        except Exception as exc:
            if not table.is_conditional_failure(exc):
                raise
            continue
        token, expires_at_ms = _mint(openclaw_id, RUNTIME_AUDIENCE, RUNTIME_SCOPE, RUNTIME_TTL_SEC, now)
        observability.count("InstanceRegistered")
        return RegisterResponse(openclawId=openclaw_id, runtimeToken=token, expiresAtMs=expires_at_ms)
    raise ServiceUnavailableError(
        "The instance changed while it was being registered; retry.", code="CONCURRENT_UPDATE"
    )


def get_instance(openclaw_id: str) -> Tenant:
    tenant = tenant_store.get(openclaw_id)
    if tenant is None or tenant.mode != "jwt":
        raise NotFoundError(f"No registered OpenClaw instance {openclaw_id!r}.", code="INSTANCE_NOT_FOUND")
    return tenant
