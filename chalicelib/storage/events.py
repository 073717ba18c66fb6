"""Inbound dedupe records: one per forwarded/handled event id, kept for MUX_DEDUPE_TTL_SEC (≥ 7 days)."""

from __future__ import annotations

from typing import Any

from chalicelib.storage import table


def key(event_id: str) -> dict[str, str]:
    return table.event_key(event_id)


def is_handled(item: dict[str, Any] | None, now_ms: int) -> bool:
    return bool(item) and int((item or {}).get(table.TTL_ATTRIBUTE, 0)) * 1000 > now_ms


def mark_handled(event_id: str, outcome: str, now_ms: int, ttl_sec: int, tenant_id: str | None) -> None:
    table.put(
        {
            **key(event_id),
            "type": "event",
            "eventId": event_id,
            "outcome": outcome,
            "tenantId": tenant_id,
            "handledAtMs": now_ms,
            table.TTL_ATTRIBUTE: now_ms // 1000 + ttl_sec,
        }
    )
