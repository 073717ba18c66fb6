"""Pairing: one-time tokens, claims (atomic), bindings listing, unbind, sessions."""

from __future__ import annotations

import base64
import secrets as pysecrets
import uuid

from chalicelib.channels.base import receiver_for
from chalicelib.clock import now_ms
from chalicelib.config import get_settings
from chalicelib.errors import InvalidInputError, NotFoundError
from chalicelib.models import (
    Binding,
    PairingItem,
    PairingListResponse,
    PairingTokenRequest,
    PairingTokenResponse,
    SessionItem,
    SessionListResponse,
)
from chalicelib.storage import bindings as store
from chalicelib.storage.table import sha256_hex

TOKEN_PREFIX = "mpt_"



def new_token() -> str:
    """`mpt_` + 32 base64url characters from 24 random bytes (CONTRACT §6)."""
    return TOKEN_PREFIX + base64.urlsafe_b64encode(pysecrets.token_bytes(24)).decode("ascii")


def new_binding_id() -> str:
    return f"bind_{uuid.uuid4()}"


def channel_enabled(channel: str) -> bool:
    receiver = receiver_for(channel)
    return receiver is not None and receiver.enabled(get_settings())


def create_token(tenant_id: str, req: PairingTokenRequest) -> PairingTokenResponse:
    settings = get_settings()
    receiver = receiver_for(req.channel)
    if receiver is None or not receiver.enabled(settings):
        detail = "is not enabled" if receiver is not None else "is not available yet"
        raise InvalidInputError(f"The {req.channel} channel {detail} on this mux.", code="CHANNEL_DISABLED")
    ttl = req.ttlSec if req.ttlSec is not None else settings.pairing_token_ttl_sec
    ttl = max(1, min(ttl, settings.pairing_token_max_ttl_sec))
    token = new_token()
    expires = now_ms() + ttl * 1000
    store.put_token(
        sha256_hex(token),
        {"tenantId": tenant_id, "channel": req.channel, "sessionKey": req.sessionKey, "agentId": req.agentId},
        expires,
    )
    hint = receiver.pairing_hint(token, settings)
    return PairingTokenResponse(
        channel=req.channel,
        token=token,
        expiresAtMs=expires,
        startCommand=hint.start_command,
        deepLink=hint.deep_link,
        instructions=hint.instructions,
    )


def _item(b: Binding) -> PairingItem:
    return PairingItem(
        bindingId=b.binding_id,
        channel=b.channel,
        scope=b.scope,
        routeKey=b.route_key,
        sessionKeys=[b.session_key],
        createdAtMs=b.created_at_ms,
    )


def parse_limit(raw: str | None, default: int = 50, maximum: int = 200) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInputError("limit must be an integer.", details={"fields": ["limit"]}) from None
    if not 1 <= value <= maximum:
        raise InvalidInputError(f"limit must be between 1 and {maximum}.", details={"fields": ["limit"]})
    return value


def list_bindings(tenant_id: str, limit: int, cursor: str | None) -> PairingListResponse:
    items, next_cursor = store.list_for_tenant(tenant_id, limit, cursor)
    return PairingListResponse(items=[_item(b) for b in items], nextCursor=next_cursor)


def unbind(tenant_id: str, binding_id: str) -> None:
    binding = store.get_by_id(binding_id)
    if binding is None or binding.tenant_id != tenant_id or not store.unbind(binding):
        raise NotFoundError("No binding with this id belongs to this tenant.", code="BINDING_NOT_FOUND")


def list_sessions(tenant_id: str, limit: int, cursor: str | None) -> SessionListResponse:
    items, _ = store.list_for_tenant(tenant_id, limit, cursor)
    return SessionListResponse(
        items=[
            SessionItem(
                sessionKey=b.session_key, channel=b.channel, routeKey=b.route_key, lastSeenAtMs=b.last_seen_at_ms
            )
            for b in items
        ]
    )
