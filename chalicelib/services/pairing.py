"""Pairing: one-time tokens, claims (atomic), bindings listing, unbind, sessions."""

from __future__ import annotations

import base64
import secrets as pysecrets
import uuid

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


IMPLEMENTED_CHANNELS = ("telegram",)  # Discord and WhatsApp: settings reserved, channels not built yet


def channel_enabled(channel: str) -> bool:
    s = get_settings()
    enabled = {"telegram": s.telegram_enabled, "discord": s.discord_enabled, "whatsapp": s.whatsapp_enabled}
    return channel in IMPLEMENTED_CHANNELS and enabled[channel]


def create_token(tenant_id: str, req: PairingTokenRequest) -> PairingTokenResponse:
    settings = get_settings()
    if not channel_enabled(req.channel):
        detail = "is not enabled" if req.channel in IMPLEMENTED_CHANNELS else "is not available yet"
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
    # Only Telegram reaches this point today; Discord/WhatsApp will add their `instructions` (CONTRACT §3.3).
    start_command = f"/start {token}"
    deep_link = None
    if settings.telegram_bot_username:
        deep_link = f"https://t.me/{settings.telegram_bot_username.lstrip('@')}?start={token}"
    return PairingTokenResponse(
        channel=req.channel,
        token=token,
        expiresAtMs=expires,
        startCommand=start_command,
        deepLink=deep_link,
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
