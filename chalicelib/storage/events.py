"""Inbound dedupe records (one per handled event id) and file records (which tenant may fetch an
attachment), both kept for MUX_DEDUPE_TTL_SEC (≥ 7 days); per-message attempt counters of the queue."""

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


# An attempt counter must outlive its queue message (SQS keeps a message 14 days at most).
ATTEMPTS_TTL_SEC = 15 * 86_400


def count_attempt(message_id: str, now_ms: int, delta: int = 1) -> int:
    """Add `delta` to the attempts made on one queue message (keyed by its SQS message id, which every
    receive of it shares and a redrive renews); returns the new count. Only messages that failed or were
    received more than once ever get a counter: the first receive of a message that succeeds writes none."""
    attrs = table.update(
        table.attempts_key(message_id),
        "ADD attempts :d SET #t = :type, #ttl = :ttl",
        ExpressionAttributeNames={"#t": "type", "#ttl": table.TTL_ATTRIBUTE},
        ExpressionAttributeValues=table.values(d=delta, type="attempts", ttl=now_ms // 1000 + ATTEMPTS_TTL_SEC),
        ReturnValues="UPDATED_NEW",
    )
    return max(0, int(attrs.get("attempts", 0)))


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
