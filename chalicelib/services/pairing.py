"""Pairing: one-time tokens (status, long-poll, revoke, QR), bindings listing, unbind, sessions."""

from __future__ import annotations

import base64
import secrets as pysecrets
import time
import uuid
from collections.abc import Callable
from typing import Any

from chalicelib.channels.base import receiver_for
from chalicelib.clock import now_ms
from chalicelib.config import get_settings
from chalicelib.errors import ConflictError, InvalidInputError, NotFoundError
from chalicelib.models import (
    CHANNELS,
    Binding,
    DisplayFields,
    PairingItem,
    PairingListResponse,
    PairingTokenRequest,
    PairingTokenResponse,
    SessionItem,
    SessionListResponse,
    TokenStatus,
    TokenStatusResponse,
)
from chalicelib.services import notify_events
from chalicelib.storage import bindings as store
from chalicelib.storage import tenants as tenant_store
from chalicelib.storage.table import sha256_hex

TOKEN_PREFIX = "mpt_"
TOKEN_ID_PREFIX = "ptk_"
# Long-poll of a token's status: the longest wait a request may ask for, and the interval between its reads
# of the token item (one strongly consistent GetItem each), so one wait costs at most MAX_WAIT_MS /
# POLL_INTERVAL_MS + 2 reads. Kept under API Gateway's 29 s integration timeout and the 30 s Lambda timeout.
MAX_WAIT_MS = 20_000
POLL_INTERVAL_MS = 500
MAX_POLL_READS = MAX_WAIT_MS // POLL_INTERVAL_MS + 2
# Time kept in hand before the invocation's end when a wait is cut short by it.
WAIT_MARGIN_MS = 2_000
QR_FORMATS = ("svg",)



def new_token() -> str:
    """`mpt_` + 32 base64url characters from 24 random bytes (CONTRACT §6)."""
    return TOKEN_PREFIX + base64.urlsafe_b64encode(pysecrets.token_bytes(24)).decode("ascii")


def new_token_id() -> str:
    """A random id (not derived from the token: knowing it gives no way to the token)."""
    return TOKEN_ID_PREFIX + pysecrets.token_urlsafe(16)


def new_binding_id() -> str:
    return f"bind_{uuid.uuid4()}"


def channel_enabled(channel: str) -> bool:
    receiver = receiver_for(channel)
    return receiver is not None and receiver.enabled(get_settings())


def create_token(tenant_id: str, req: PairingTokenRequest, qr: str | None = None) -> PairingTokenResponse:
    settings = get_settings()
    receiver = receiver_for(req.channel)
    if receiver is None or not receiver.enabled(settings):
        detail = "is not enabled" if receiver is not None else "is not available yet"
        raise InvalidInputError(f"The {req.channel} channel {detail} on this mux.", code="CHANNEL_DISABLED")
    if qr is not None and qr not in QR_FORMATS:
        raise InvalidInputError("qr must be 'svg'.", details={"fields": ["qr"]})
    if req.sessionKey is not None or req.agentId is not None:
        _check_offered(tenant_id, req)
    ttl = req.ttlSec if req.ttlSec is not None else settings.pairing_token_ttl_sec
    ttl = max(1, min(ttl, settings.pairing_token_max_ttl_sec))
    token = new_token()
    token_id = new_token_id()
    now = now_ms()
    expires = now + ttl * 1000
    store.put_token(
        sha256_hex(token),
        {"tenantId": tenant_id, "channel": req.channel, "sessionKey": req.sessionKey, "agentId": req.agentId},
        expires,
        token_id=token_id,
        now_ms=now,
    )
    hint = receiver.pairing_hint(token, settings)
    return PairingTokenResponse(
        channel=req.channel,
        tokenId=token_id,
        token=token,
        expiresAtMs=expires,
        startCommand=hint.start_command,
        deepLink=hint.deep_link,
        instructions=hint.instructions,
        qrSvg=qr_svg(hint.deep_link) if qr == "svg" and hint.deep_link else None,
    )


def qr_svg(data: str) -> str:
    """A standalone SVG (with its namespace, no XML declaration) of a QR code for `data`."""
    import io

    import segno  # imported here: only token requests with ?qr=svg pay for it

    out = io.BytesIO()
    segno.make(data, error="m").save(out, kind="svg", xmldecl=False, svgns=True, nl=False, scale=4, border=4)
    return out.getvalue().decode("utf-8")


def _agent_of(session_key: str) -> str | None:
    parts = session_key.split(":")
    return parts[1] if len(parts) >= 3 and parts[0] == "agent" and parts[1] else None


def _check_offered(tenant_id: str, req: PairingTokenRequest) -> None:
    """With declared agents, a token may only carry one of them, or a session the mux has seen for the
    tenant (on this channel) or that names one of them. Without declared agents anything goes (as before)."""
    tenant = tenant_store.get(tenant_id)
    agents = tenant.agents if tenant is not None else []
    if not agents:
        return
    if req.agentId is not None and req.agentId not in agents:
        raise InvalidInputError(
            f"agentId {req.agentId!r} is not one of the agents this tenant declared.",
            code="UNKNOWN_AGENT", details={"fields": ["agentId"]},
        )
    if req.sessionKey is not None and _agent_of(req.sessionKey) not in agents:
        if store.session_route(tenant_id, req.channel, req.sessionKey) is None:
            raise InvalidInputError(
                "sessionKey is neither a session of this tenant nor one of its declared agents' (agent:<id>:…).",
                code="UNKNOWN_SESSION", details={"fields": ["sessionKey"]},
            )


def display_name(fields: dict[str, str]) -> str | None:
    base = fields.get("chatTitle") or fields.get("userName") or (
        "@" + fields["userHandle"] if fields.get("userHandle") else None
    )
    topic = fields.get("topicName")
    if base and topic:
        return f"{base} › {topic}"
    return base or topic


def _display(fields: dict[str, Any]) -> dict[str, str | None]:
    clean = {k: v for k, v in fields.items() if isinstance(v, str) and k in DisplayFields.model_fields}
    return {
        "displayName": display_name(clean),
        "chatTitle": clean.get("chatTitle"),
        "chatType": clean.get("chatType"),
        "topicName": clean.get("topicName"),
        "userName": clean.get("userName"),
        "userHandle": clean.get("userHandle"),
    }


def _item(b: Binding) -> PairingItem:
    return PairingItem(
        bindingId=b.binding_id,
        channel=b.channel,
        scope=b.scope,
        routeKey=b.route_key,
        sessionKeys=[b.session_key],
        createdAtMs=b.created_at_ms,
        lastSeenAtMs=b.last_seen_at_ms,
        **_display(b.display),
    )


# --- token status -----------------------------------------------------------------------------
def _status_of(item: dict[str, Any], now: int) -> TokenStatus:
    if item.get("claimedBy") is not None:
        return "claimed"
    if item.get("revokedAtMs") is not None:
        return "revoked"
    return "pending" if int(item.get("expiresAtMs", 0)) > now else "expired"


def _status_response(item: dict[str, Any], now: int) -> TokenStatusResponse:
    status = _status_of(item, now)
    claimed = status == "claimed"
    return TokenStatusResponse(
        tokenId=str(item["tokenId"]),
        channel=item["channel"],
        status=status,
        expiresAtMs=int(item["expiresAtMs"]),
        createdAtMs=item.get("createdAtMs"),
        claimedAtMs=item.get("claimedAtMs") if claimed else None,
        revokedAtMs=item.get("revokedAtMs"),
        bindingId=item.get("claimedBindingId") if claimed else None,
        routeKey=item.get("claimedRouteKey") if claimed else None,
        sessionKey=item.get("claimedSessionKey") if claimed else None,
        **_display(item.get("claimedDisplay") or {} if claimed else {}),
    )


def _token_item(tenant_id: str, token_id: str) -> tuple[str, dict[str, Any]]:
    token_hash = None
    if token_id.startswith(TOKEN_ID_PREFIX) and len(token_id) <= 64:
        token_hash = store.token_hash_for_id(tenant_id, token_id, now_ms())
    item = store.token_record(token_hash) if token_hash else None
    if token_hash is None or item is None or item.get("tenantId") != tenant_id:
        raise NotFoundError("No pairing token with this id belongs to this tenant.", code="TOKEN_NOT_FOUND")
    return token_hash, item


def parse_wait(raw: str | None) -> int:
    if raw is None or raw == "":
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInputError("waitMs must be an integer.", details={"fields": ["waitMs"]}) from None
    if not 0 <= value <= MAX_WAIT_MS:
        raise InvalidInputError(f"waitMs must be between 0 and {MAX_WAIT_MS}.", details={"fields": ["waitMs"]})
    return value


def _sleep_ms(ms: int) -> None:
    time.sleep(ms / 1000)


def token_status(
    tenant_id: str, token_id: str, wait_ms: int = 0, time_left_ms: Callable[[], int] | None = None
) -> TokenStatusResponse:
    """The token's status; with `wait_ms`, a pending token is re-read every POLL_INTERVAL_MS and answered as
    soon as it is no longer pending, or still pending when the wait (cut at the token's expiry and at the
    invocation's end) is over. Claimed, revoked and expired are final: answered at once."""
    start = now_ms()
    token_hash, item = _token_item(tenant_id, token_id)
    deadline = start + wait_ms
    if time_left_ms is not None:
        deadline = min(deadline, start + max(0, time_left_ms() - WAIT_MARGIN_MS))
    reads = 1
    while True:
        now = now_ms()
        if _status_of(item, now) != "pending" or now >= deadline or reads >= MAX_POLL_READS:
            return _status_response(item, now)
        # Expiry needs no read to notice: wake for it, one read then shows nothing else happened first.
        _sleep_ms(max(1, min(POLL_INTERVAL_MS, deadline - now, int(item["expiresAtMs"]) - now)))
        fresh = store.token_record(token_hash)
        reads += 1
        if fresh is None:
            raise NotFoundError("No pairing token with this id belongs to this tenant.", code="TOKEN_NOT_FOUND")
        item = fresh


def revoke_token(tenant_id: str, token_id: str) -> TokenStatusResponse:
    """Revoke a pending token: it stops working at once. Revoking a revoked token answers its status again
    (idempotent, so a retried revoke is safe); a claimed or expired one cannot be revoked (409)."""
    token_hash, item = _token_item(tenant_id, token_id)
    if store.revoke_token(token_hash, tenant_id, now_ms()):
        item = store.token_record(token_hash) or item
        return _status_response(item, now_ms())
    item = store.token_record(token_hash) or item
    status = _status_of(item, now_ms())
    if status == "revoked":
        return _status_response(item, now_ms())
    if status == "claimed":
        raise ConflictError(
            "This pairing token was already claimed; unbind the binding instead.", code="TOKEN_ALREADY_CLAIMED",
            details={"bindingId": item.get("claimedBindingId")},
        )
    raise ConflictError("This pairing token has expired; it can no longer be used.", code="TOKEN_EXPIRED")


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


def parse_channel(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    if raw not in CHANNELS:
        raise InvalidInputError(f"channel must be one of {', '.join(CHANNELS)}.", details={"fields": ["channel"]})
    return raw


def list_bindings(
    tenant_id: str, limit: int, cursor: str | None, channel: str | None = None
) -> PairingListResponse:
    items, next_cursor = store.list_for_tenant(tenant_id, limit, cursor, channel)
    return PairingListResponse(items=[_item(b) for b in items], nextCursor=next_cursor)


def unbind(tenant_id: str, binding_id: str) -> None:
    binding = store.get_by_id(binding_id)
    if binding is None or binding.tenant_id != tenant_id or not store.unbind(binding):
        raise NotFoundError("No binding with this id belongs to this tenant.", code="BINDING_NOT_FOUND")
    notify_events.binding_removed(tenant_id, binding, notify_events.BY_API)


def list_sessions(tenant_id: str, limit: int, cursor: str | None) -> SessionListResponse:
    """The sessions of the tenant's bound chats (newest binding first, paginated), and on the first page
    the agents it declared at bootstrap as `agent:<id>:main` (those no listed chat already uses)."""
    found, next_cursor = store.list_for_tenant(tenant_id, limit, cursor)
    items = [
        SessionItem(
            sessionKey=b.session_key, channel=b.channel, routeKey=b.route_key, lastSeenAtMs=b.last_seen_at_ms,
            agentId=_agent_of(b.session_key), source="seen", bindingId=b.binding_id,
        )
        for b in found
    ]
    if cursor is None:
        tenant = tenant_store.get(tenant_id)
        seen = {i.sessionKey for i in items}
        for agent in tenant.agents if tenant is not None else []:
            key = f"agent:{agent}:main"
            if key not in seen:
                items.append(
                    SessionItem(sessionKey=key, channel=None, routeKey=None, lastSeenAtMs=None, agentId=agent,
                                source="declared")
                )
    return SessionListResponse(items=items, nextCursor=next_cursor)
