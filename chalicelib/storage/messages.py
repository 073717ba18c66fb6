"""Message records: which tenant may act on (edit, react to, delete, answer) a message of a route, kept 48 h.

Item `MSG#<routeKey>#<ref>` → tenantId, with the TTL attribute. `ref` is the platform's reference as the
channel spells it (Telegram: the message id, `cbq:<callback query id>`, `inline:<inline message id>`).
Written when a send succeeds (ids the platform returned) and when an inbound message is forwarded (in the
same BatchWriteItem as the dedupe record, so it costs no extra round trip).

Why 48 h: Telegram lets a bot delete a message only within 48 h of sending it, and that is also its edit
window for business messages; what OpenClaw does with a message (stream edits into its reply, react to the
message it just received, answer a callback within seconds) happens long before that. Acting on an older
message is refused like any unknown one (fail closed).
"""

from __future__ import annotations

from typing import Any

from chalicelib.storage import table

RECORD_TTL_SEC = 48 * 3600


def item(route_key: str, ref: str, tenant_id: str, now_ms: int) -> dict[str, Any]:
    return {
        **table.message_key(route_key, ref),
        "type": "message",
        "routeKey": route_key,
        "ref": ref,
        "tenantId": tenant_id,
        "recordedAtMs": now_ms,
        table.TTL_ATTRIBUTE: now_ms // 1000 + RECORD_TTL_SEC,
    }


def record(route_key: str, refs: list[str], tenant_id: str, now_ms: int) -> None:
    """Remember that `tenant_id` may act on these messages of `route_key`."""
    table.batch_put([item(route_key, ref, tenant_id, now_ms) for ref in dict.fromkeys(refs)])


def owns(route_key: str, ref: str, tenant_id: str, now_ms: int, reads: table.ReadSet | None = None) -> bool:
    """Whether the mux sent `ref` to, or forwarded it from, `route_key` for `tenant_id`, within the TTL."""
    if ref == LATEST_INBOUND_REF:
        return False  # the pointer item, not a message
    found = table.read(table.message_key(route_key, ref), reads)
    return (
        found is not None
        and found.get("tenantId") == tenant_id
        and int(found.get(table.TTL_ATTRIBUTE, 0)) * 1000 > now_ms
    )


# The newest message forwarded from a route, for platforms whose typing indicator names an incoming message
# (WhatsApp: a read receipt + typing on the user's latest message). One item per route, overwritten by each
# forward in the dedupe record's BatchWriteItem (no extra round trip).
LATEST_INBOUND_REF = "@latest-inbound"


def latest_inbound_item(route_key: str, ref: str, tenant_id: str, now_ms: int) -> dict[str, Any]:
    return {**item(route_key, LATEST_INBOUND_REF, tenant_id, now_ms), "latestRef": ref}


def latest_inbound(route_key: str, tenant_id: str, now_ms: int) -> str | None:
    """The platform reference of the newest message forwarded from `route_key` to `tenant_id`, within the TTL."""
    found = latest_inbound_at(route_key, tenant_id, now_ms)
    return found[0] if found is not None else None


def latest_inbound_at(route_key: str, tenant_id: str, now_ms: int) -> tuple[str, int] | None:
    """`latest_inbound` and when it was forwarded (ms): Discord answers an interaction through its token only
    while the token lives (15 minutes)."""
    found = table.get(table.message_key(route_key, LATEST_INBOUND_REF))
    if (
        found is None
        or found.get("tenantId") != tenant_id
        or int(found.get(table.TTL_ATTRIBUTE, 0)) * 1000 <= now_ms
        or not found.get("latestRef")
    ):
        return None
    return str(found["latestRef"]), int(found.get("recordedAtMs", 0))
