"""Tenant health (`TENANTHEALTH#<tenantId>`): a down tenant's probe schedule and its parked chat heads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.storage import table

# The item exists only while a tenant is down; a forgotten one (tenant deleted mid-outage) expires.
HEALTH_TTL_SEC = 15 * 86_400
# An item holds at most this many parked heads (a receipt handle is up to ~1 KB; DynamoDB's item limit
# is 400 KB): beyond it a head falls back to its own backoff.
MAX_PARKED = 100
MAX_HANDLE_CHARS = 2048


@dataclass
class Parked:
    handle: str  # the SQS receipt handle of the receive that parked it
    due_ms: int  # when its own next attempt is due by its backoff (a probe before that is not charged)


@dataclass
class Health:
    tenant_id: str
    down_since_ms: int
    probe_at_ms: int  # no probe before this (a probe in flight holds it until its timeout)
    prober: str | None  # SQS message id of the last probe
    parked: dict[str, Parked] = field(default_factory=dict)  # by SQS message id
    failing_reported_ms: int | None = None  # when delivery.failing was emitted for this outage


def key(tenant_id: str) -> dict[str, str]:
    return table.tenant_health_key(tenant_id)


def _from_item(item: dict[str, Any]) -> Health:
    parked = {
        mid: Parked(handle=str(entry.get("h", "")), due_ms=int(entry.get("d", 0)))
        for mid, entry in (item.get("parked") or {}).items()
    }
    return Health(
        tenant_id=str(item.get("tenantId", "")),
        down_since_ms=int(item.get("downSince", 0)),
        probe_at_ms=int(item.get("probeAt", 0)),
        prober=item.get("prober"),
        parked=parked,
        failing_reported_ms=int(item["failingReported"]) if item.get("failingReported") is not None else None,
    )


def get(tenant_id: str, now_ms: int) -> Health | None:
    item = table.get(key(tenant_id))
    if not item or int(item.get(table.TTL_ATTRIBUTE, 0)) * 1000 <= now_ms:
        return None
    return _from_item(item)


def mark_down(tenant_id: str, now_ms: int, next_probe_ms: int, *, reschedule: bool) -> Health:
    """Record a failed forward (creating the item if the tenant was healthy). `reschedule`: the failure
    was the probe, so the next one is due at `next_probe_ms`; otherwise an existing schedule is kept."""
    probe = ":next" if reschedule else "if_not_exists(probeAt, :next)"
    attrs = table.update(
        key(tenant_id),
        "SET #t = :type, tenantId = :tid, downSince = if_not_exists(downSince, :now), "
        f"probeAt = {probe}, parked = if_not_exists(parked, :empty), #ttl = :ttl",
        ExpressionAttributeNames={"#t": "type", "#ttl": table.TTL_ATTRIBUTE},
        ExpressionAttributeValues=table.values(
            type="tenanthealth", tid=tenant_id, now=now_ms, next=next_probe_ms, empty={},
            ttl=now_ms // 1000 + HEALTH_TTL_SEC,
        ),
        ReturnValues="ALL_NEW",
    )
    return _from_item(attrs)


def take_probe(tenant_id: str, seen_probe_at_ms: int, hold_until_ms: int, message_id: str) -> bool:
    """Become the tenant's one prober: only if nobody changed the schedule since it was read."""
    try:
        table.update(
            key(tenant_id),
            "SET probeAt = :until, prober = :m",
            "probeAt = :seen",
            ExpressionAttributeValues=table.values(until=hold_until_ms, m=message_id, seen=seen_probe_at_ms),
        )
    except Exception as exc:
        if table.is_conditional_failure(exc):
            return False
        raise
    return True


def park(tenant_id: str, message_id: str, handle: str, due_ms: int) -> bool:
    """Add (or refresh) a parked head; False when the tenant is no longer down or the item is full."""
    if len(handle) > MAX_HANDLE_CHARS:
        return False
    try:
        table.update(
            key(tenant_id),
            "SET parked.#m = :entry",
            "attribute_exists(pk) AND (size(parked) < :cap OR attribute_exists(parked.#m))",
            ExpressionAttributeNames={"#m": message_id},
            ExpressionAttributeValues=table.values(entry={"h": handle, "d": due_ms}, cap=MAX_PARKED),
        )
    except Exception as exc:
        if table.is_conditional_failure(exc):
            return False
        raise
    return True


def unpark(tenant_id: str, message_id: str) -> None:
    """Forget one parked head (it was dead-lettered, or handed the probe)."""
    try:
        table.update(
            key(tenant_id),
            "REMOVE parked.#m",
            "attribute_exists(pk)",
            ExpressionAttributeNames={"#m": message_id},
        )
    except Exception as exc:
        if not table.is_conditional_failure(exc):
            raise


def report_failing(tenant_id: str, down_since_ms: int, now_ms: int) -> bool:
    """Claim the one delivery.failing report of this outage: True for exactly one caller."""
    try:
        table.update(
            key(tenant_id),
            "SET failingReported = :now",
            "attribute_exists(pk) AND downSince = :since AND attribute_not_exists(failingReported)",
            ExpressionAttributeValues=table.values(now=now_ms, since=down_since_ms),
        )
    except Exception as exc:
        if table.is_conditional_failure(exc):
            return False
        raise
    return True


def clear(tenant_id: str) -> Health | None:
    """The tenant answered: delete its health item, returning what it held (the heads to release)."""
    resp = table.delete_returning(key(tenant_id))
    return _from_item(resp) if resp else None
