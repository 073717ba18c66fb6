"""Inbound dedupe records (one per handled event id) and file records (which tenant may fetch an
attachment), both kept for MUX_DEDUPE_TTL_SEC (≥ 7 days)."""

from __future__ import annotations

from typing import Any

from chalicelib.storage import table


def key(event_id: str) -> dict[str, str]:
    return table.event_key(event_id)


def is_handled(item: dict[str, Any] | None, now_ms: int) -> bool:
    return bool(item) and int((item or {}).get(table.TTL_ATTRIBUTE, 0)) * 1000 > now_ms


def mark_handled(
    event_id: str,
    outcome: str,
    now_ms: int,
    ttl_sec: int,
    tenant_id: str | None,
    *,
    also: list[dict[str, Any]] | None = None,
) -> None:
    """Write the dedupe record; `also`: more items for the same BatchWriteItem (no extra round trip)."""
    item = {
        **key(event_id),
        "type": "event",
        "eventId": event_id,
        "outcome": outcome,
        "tenantId": tenant_id,
        "handledAtMs": now_ms,
        table.TTL_ATTRIBUTE: now_ms // 1000 + ttl_sec,
    }
    if also:
        table.batch_put([item, *also])
    else:
        table.put(item)


def record_files(channel: str, files: list[dict[str, Any]], tenant_id: str, route_key: str, now_ms: int,
                 ttl_sec: int) -> None:
    """Remember that these inbound files came from a route of `tenant_id` (for the file proxy)."""
    for f in files:
        table.put(
            {
                **table.file_key(channel, f["fileId"]),
                "type": "file",
                "tenantId": tenant_id,
                "routeKey": route_key,
                "mimeType": f.get("mimeType"),
                "fileName": f.get("fileName"),
                table.TTL_ATTRIBUTE: now_ms // 1000 + ttl_sec,
            }
        )


def file_owner(channel: str, file_id: str, now_ms: int) -> dict[str, Any] | None:
    item = table.get(table.file_key(channel, file_id))
    if not item or int(item.get(table.TTL_ATTRIBUTE, 0)) * 1000 <= now_ms:
        return None
    return item
