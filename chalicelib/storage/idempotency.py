"""Outbound idempotency records: claim a key with one conditional write, record per-part progress, finish,
suspend or release it, replay it.

Item (key `table.idempotency_key(tenant, sha256(Idempotency-Key))`): bodyHash, status
`in_progress|partial|done`, attemptId, lockExpiresAtMs, partIds (provider message ids of the parts delivered so
far, in order), responseStatus, responseBody (the JSON text answered), createdAtMs and the TTL attribute
`expiresAt` (epoch seconds). moto never expires TTL items and DynamoDB deletes them up to days late, so an
item past `expiresAt` is treated as absent by the claim condition itself.

An in-progress claim holds a lock until `lockExpiresAtMs`; a crashed attempt (Lambda killed mid-send) thus
blocks its key only until then, after which a retry with the same body takes the key over *with its
progress*. A send that failed retryably after delivering some parts is suspended (`partial`): the next
attempt takes it over at once and resumes after `partIds`. A failure before any part was delivered releases
the key. Every update after the claim is conditioned on the attempt id, so a slow attempt whose lock was taken
over cannot clobber the new one.

The one exception is the finished record of an attempt that is well inside both its lock and its TTL
(`finished_item`): it is written whole, unconditionally, in the message records' BatchWriteItem (no round trip
of its own). No other attempt can own the key then: a take-over needs the lock expired (or the record
suspended, which only this attempt does, on its failure path), a new claim needs the record past its TTL, and
only this attempt releases it. The margin covers the longest such a write can take to land.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from chalicelib import aws
from chalicelib.storage import table

IN_PROGRESS = "in_progress"
PARTIAL = "partial"
DONE = "done"


@dataclass(frozen=True)
class Claim:
    """We own the key for this attempt; `delivered`: part ids an earlier attempt delivered (resume after them)."""

    key: dict[str, str]
    attempt_id: str
    delivered: tuple[str, ...] = ()
    item: dict[str, Any] | None = None  # the record as this attempt wrote or took it over
    safe_until_ms: int = 0  # no other attempt can own the key before this (lock expiry, TTL expiry)


@dataclass(frozen=True)
class Existing:
    """Someone holds (or finished) the key: what the record says."""

    body_hash: str
    status: str
    lock_expires_at_ms: int
    response_status: int | None
    response_body: str | None


def claim(
    tenant_id: str,
    key_hash: str,
    body_hash: str,
    *,
    now_ms: int,
    ttl_ms: int,
    lock_ms: int,
) -> Claim | Existing:
    """Take the key (absent or expired; suspended or stale in-progress with the same body, keeping its
    progress) or return the record that holds it."""
    key = table.idempotency_key(tenant_id, key_hash)
    attempt_id = uuid.uuid4().hex
    item = {
        **key,
        "type": "idempotency",
        "tenantId": tenant_id,
        "bodyHash": body_hash,
        "status": IN_PROGRESS,
        "attemptId": attempt_id,
        "lockExpiresAtMs": now_ms + lock_ms,
        "createdAtMs": now_ms,
        table.TTL_ATTRIBUTE: (now_ms + ttl_ms) // 1000 + 1,
    }
    for _ in range(3):
        try:
            aws.dynamodb().put_item(
                TableName=table.table_name(),
                Item=table.to_ddb(item),
                ConditionExpression="attribute_not_exists(pk) OR #exp <= :nowsec",
                ExpressionAttributeNames={"#exp": table.TTL_ATTRIBUTE},
                ExpressionAttributeValues=table.values(nowsec=now_ms // 1000),
                # The holder's record comes back with the refusal: no extra read on a conflict.
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return Claim(key=key, attempt_id=attempt_id, item=item, safe_until_ms=_safe_until(item))
        except Exception as exc:
            if table.error_code(exc) != "ConditionalCheckFailedException":
                raise
            old = getattr(exc, "response", {}).get("Item")
            found = table.from_ddb(old) if old else table.get(key)
        if found is None:
            continue  # deleted between our write and the read (a failed attempt released it): claim again
        resumable = found.get("status") == PARTIAL or (
            found.get("status") == IN_PROGRESS and int(found.get("lockExpiresAtMs", 0)) < now_ms
        )
        if not resumable or found.get("bodyHash") != body_hash:
            return _existing(found)
        taken = _take_over(key, str(found.get("attemptId", "")), body_hash, attempt_id, now_ms, lock_ms)
        if taken is not None:
            delivered = tuple(str(i) for i in taken.get("partIds") or [])
            return Claim(key=key, attempt_id=attempt_id, delivered=delivered, item=taken,
                         safe_until_ms=_safe_until(taken))
        # Another attempt took it over first: look again.
    raise RuntimeError("idempotency key kept changing under us")


def _safe_until(item: dict[str, Any]) -> int:
    """Until when no other attempt can take the record over (its lock) or claim it afresh (its TTL), in ms."""
    return min(int(item.get("lockExpiresAtMs", 0)), int(item.get(table.TTL_ATTRIBUTE, 0)) * 1000)


def _take_over(
    key: dict[str, str], old_attempt: str, body_hash: str, attempt_id: str, now_ms: int, lock_ms: int
) -> dict[str, Any] | None:
    """Become the attempt of a suspended or abandoned record; the record as taken over, or None if we lost."""
    try:
        attrs = table.update(
            key,
            "SET #st = :inprog, attemptId = :aid, lockExpiresAtMs = :lock",
            condition="attemptId = :old AND bodyHash = :bh AND #exp > :nowsec",
            ExpressionAttributeNames={"#st": "status", "#exp": table.TTL_ATTRIBUTE},
            ExpressionAttributeValues=table.values(
                inprog=IN_PROGRESS, aid=attempt_id, lock=now_ms + lock_ms, old=old_attempt, bh=body_hash,
                nowsec=now_ms // 1000,
            ),
            ReturnValues="ALL_NEW",
        )
    except Exception as exc:
        if table.is_conditional_failure(exc):
            return None
        raise
    return attrs or {**key, "attemptId": attempt_id}


def _existing(item: dict[str, Any]) -> Existing:
    status = item.get("responseStatus")
    return Existing(
        body_hash=str(item.get("bodyHash", "")),
        status=str(item.get("status", "")),
        lock_expires_at_ms=int(item.get("lockExpiresAtMs", 0)),
        response_status=int(status) if status is not None else None,
        response_body=item.get("responseBody"),
    )


def progress(claim_: Claim, part_ids: list[str]) -> bool:
    """Record the parts delivered so far (a crash after this resumes after them)."""
    return _update_owned(claim_, "SET partIds = :ids", ids=list(part_ids))


def suspend(claim_: Claim, part_ids: list[str]) -> bool:
    """A retryable failure after some parts went out: keep them, let the next attempt resume at once."""
    return _update_owned(claim_, "SET #st = :partial, partIds = :ids", partial=PARTIAL, ids=list(part_ids))


def _update_owned(claim_: Claim, expression: str, **values: Any) -> bool:
    names = {"#st": "status"} if "#st" in expression else None
    extra: dict[str, Any] = {"ExpressionAttributeNames": names} if names else {}
    try:
        table.update(
            claim_.key,
            expression,
            condition="attemptId = :aid",
            ExpressionAttributeValues=table.values(aid=claim_.attempt_id, **values),
            **extra,
        )
    except Exception as exc:
        if table.is_conditional_failure(exc):
            return False
        raise
    return True


def finish(claim_: Claim, response_status: int, response_body: str) -> bool:
    """Store the answer for replay; False when our attempt no longer owns the key."""
    try:
        table.update(
            claim_.key,
            "SET #st = :done, responseStatus = :rs, responseBody = :rb",
            condition="attemptId = :aid",
            ExpressionAttributeNames={"#st": "status"},
            ExpressionAttributeValues=table.values(
                done=DONE, rs=response_status, rb=response_body, aid=claim_.attempt_id
            ),
        )
    except Exception as exc:
        if table.is_conditional_failure(exc):
            return False
        raise
    return True


# The longest a write sent now can take to land: the client's 3 attempts of at most 3 s connect + 10 s read
# (chalicelib/aws.py), its backoff between them (at most 2 s + 4 s), and clock skew between containers.
PLAIN_FINISH_MARGIN_MS = 50_000


def finished_item(
    claim_: Claim, response_status: int, response_body: str, *, now_ms: int, part_ids: list[str]
) -> dict[str, Any] | None:
    """The whole finished record, to write unconditionally beside the message records, while no other attempt
    can own the key by the time the write lands; None when too close to that (use the conditional `finish`)."""
    if claim_.item is None or now_ms + PLAIN_FINISH_MARGIN_MS > claim_.safe_until_ms:
        return None
    item = {
        **claim_.item,
        "status": DONE,
        "attemptId": claim_.attempt_id,
        "responseStatus": response_status,
        "responseBody": response_body,
    }
    if len(part_ids) > 1:
        item["partIds"] = list(part_ids)
    return item


def release(claim_: Claim) -> bool:
    """Forget the key (the attempt failed in a retryable way); False when another attempt owns it now."""
    try:
        table.delete(
            claim_.key,
            condition="attemptId = :aid",
            ExpressionAttributeValues=table.values(aid=claim_.attempt_id),
        )
    except Exception as exc:
        if table.is_conditional_failure(exc):
            return False
        raise
    return True
