"""Tenant items, the key-hash → tenant lock, the tenant listing index and the tenant delete sweep.

The key-hash item exists exactly while the tenant's key is valid (enabled tenants only); it is also the
uniqueness lock of keys. Every write that changes a tenant is conditioned on the state it was computed
from (key hash, disabled flag), so concurrent bootstrap / disable / enable never lose an update: the loser's
transaction is cancelled and the service retries it on fresh state. Bootstrap never writes `disabled`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

from chalicelib import aws
from chalicelib.errors import ConflictError, InvalidInputError
from chalicelib.models import TENANT_ID_PATTERN, Binding, Tenant
from chalicelib.storage import table
from chalicelib.storage.bindings import binding_from_item

GSI = "gsi1"
STATUSES = ("enabled", "disabled")
# A deleted tenant's routes remember the deletion this long: longer than a message can live in the inbound
# queue (14 days) plus a stay in the dead-letter queue (14 days), so a late or redriven message is still
# recognised as the deleted tenant's.
ROUTE_GONE_TTL_SEC = 30 * 86_400


class ConcurrentChangeError(Exception):
    """The tenant changed between the read and the conditional write; re-read and try again."""


def _status(disabled: bool) -> str:
    return "disabled" if disabled else "enabled"


def _to_tenant(item: dict[str, Any]) -> Tenant:
    return Tenant(
        tenant_id=item["tenantId"],
        name=item["name"],
        inbound_url=item.get("inboundUrl"),
        inbound_timeout_ms=item.get("inboundTimeoutMs", 15000),
        key_hash=item["keyHash"],
        key_ciphertext=item["keyCiphertext"],
        disabled=bool(item.get("disabled", False)),
        agents=[str(a) for a in item.get("agents") or []],
        events_url=item.get("eventsUrl"),
        created_at_ms=item["createdAtMs"],
        updated_at_ms=item["updatedAtMs"],
        mode=item.get("mode", "shared-key"),
    )


def _to_item(tenant: Tenant) -> dict[str, Any]:
    return {
        **table.tenant_key(tenant.tenant_id),
        "type": "tenant",
        "tenantId": tenant.tenant_id,
        "name": tenant.name,
        "inboundUrl": tenant.inbound_url,
        "inboundTimeoutMs": tenant.inbound_timeout_ms,
        "keyHash": tenant.key_hash,
        "keyCiphertext": tenant.key_ciphertext,
        "disabled": tenant.disabled,
        "agents": tenant.agents,
        "eventsUrl": tenant.events_url,
        "createdAtMs": tenant.created_at_ms,
        "updatedAtMs": tenant.updated_at_ms,
        "mode": tenant.mode,
        "gsi1pk": table.tenants_gsi(_status(tenant.disabled)),
        "gsi1sk": tenant.tenant_id,
    }


def _key_hash_item(tenant: Tenant) -> dict[str, Any]:
    return {**table.key_hash_key(tenant.key_hash), "type": "keyhash", "tenantId": tenant.tenant_id}


def _key_free_or_ours(tenant: Tenant) -> dict[str, Any]:
    return {
        "ConditionExpression": "attribute_not_exists(pk) OR tenantId = :tid",
        "ExpressionAttributeValues": table.values(tid=tenant.tenant_id),
    }


def get(tenant_id: str, reads: table.ReadSet | None = None) -> Tenant | None:
    """The tenant, read strongly consistent (from the request's ReadSet when it named the item up front)."""
    item = table.read(table.tenant_key(tenant_id), reads)
    return _to_tenant(item) if item else None


def is_deleting(tenant_id: str) -> bool:
    item = table.get(table.tenant_key(tenant_id))
    return bool(item and item.get("deleting"))


def tenant_id_for_key_hash(key_hash: str, reads: table.ReadSet | None = None) -> str | None:
    item = table.read(table.key_hash_key(key_hash), reads)
    return str(item["tenantId"]) if item else None


def _run(ops: list[dict[str, Any]], key_op: int | None) -> None:
    """Run a tenant transaction: a failed key condition is 409 API_KEY_IN_USE; any other cancellation (the
    tenant's condition, or a transaction conflict) a ConcurrentChangeError for the caller to retry."""
    try:
        table.transact(ops)
    except Exception as exc:
        if not table.is_conditional_failure(exc):
            raise
        reasons = table.cancellation_reasons(exc)
        if key_op is not None and len(reasons) > key_op and reasons[key_op] == "ConditionalCheckFailed":
            raise ConflictError("This apiKey is already used by another tenant.", code="API_KEY_IN_USE") from None
        raise ConcurrentChangeError() from None


def save(tenant: Tenant, previous: Tenant | None) -> None:
    """Create or update a tenant (bootstrap) and its key-hash lock atomically.

    The new key hash must be free or already ours (else 409 API_KEY_IN_USE); a changed key deletes the old
    hash in the same transaction, so the old key stops working the moment the new one starts. An update
    never writes `disabled` and is conditioned on the key hash and disabled flag that were read: a disable
    that lands in between cancels it (ConcurrentChangeError), and the retry keeps the tenant disabled — with
    no key-hash item, so no key of a disabled tenant works. A tenant being deleted is not updated.
    """
    if previous is None:
        ops: list[dict[str, Any]] = [
            {"Put": {"Item": _key_hash_item(tenant), **_key_free_or_ours(tenant)}},
            {"Put": {"Item": _to_item(tenant), "ConditionExpression": "attribute_not_exists(pk)"}},
        ]
        _run(ops, key_op=0)
        return
    if previous.disabled:
        # Only check that the new key is free: a disabled tenant's key has no lock item until enable.
        ops = [{"ConditionCheck": {"Key": table.key_hash_key(tenant.key_hash), **_key_free_or_ours(tenant)}}]
    else:
        ops = [{"Put": {"Item": _key_hash_item(tenant), **_key_free_or_ours(tenant)}}]
        if previous.key_hash != tenant.key_hash:
            ops.append({"Delete": {"Key": table.key_hash_key(previous.key_hash)}})
    fields = {
        "name": tenant.name,
        "inboundUrl": tenant.inbound_url,
        "inboundTimeoutMs": tenant.inbound_timeout_ms,
        "keyHash": tenant.key_hash,
        "keyCiphertext": tenant.key_ciphertext,
        "agents": tenant.agents,
        "eventsUrl": tenant.events_url,
        "updatedAtMs": tenant.updated_at_ms,
        "gsi1sk": tenant.tenant_id,
    }
    assignments = [f"#{k} = :{k}" for k in fields]
    # Tenants written before the listing index existed join it on their next bootstrap.
    assignments.append("gsi1pk = if_not_exists(gsi1pk, :gpk)")
    ops.append(
        {
            "Update": {
                "Key": table.tenant_key(tenant.tenant_id),
                "UpdateExpression": "SET " + ", ".join(assignments),
                "ConditionExpression": "keyHash = :old AND disabled = :dis AND attribute_not_exists(deleting)",
                "ExpressionAttributeNames": {f"#{k}": k for k in fields},
                "ExpressionAttributeValues": table.values(
                    **fields, old=previous.key_hash, dis=previous.disabled,
                    gpk=table.tenants_gsi(_status(previous.disabled)),
                ),
            }
        }
    )
    _run(ops, key_op=0)


def update_fields(tenant_id: str, **fields: Any) -> None:
    names = {f"#{k}": k for k in fields}
    expression = "SET " + ", ".join(f"#{k} = :{k}" for k in fields)
    table.update(
        table.tenant_key(tenant_id),
        expression,
        condition="attribute_exists(pk)",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=table.values(**fields),
    )


def set_disabled(tenant: Tenant, disabled: bool, now_ms: int) -> None:
    """Disable (the key-hash lock is removed: the key stops working) or enable (the lock is written again;
    409 API_KEY_IN_USE if another tenant took the key meanwhile), conditioned on the key hash and flag that
    were read (ConcurrentChangeError otherwise: a bootstrap rotated the key in between)."""
    if disabled:
        key_op: dict[str, Any] = {"Delete": {"Key": table.key_hash_key(tenant.key_hash)}}
    else:
        key_op = {"Put": {"Item": _key_hash_item(tenant), **_key_free_or_ours(tenant)}}
    condition = "keyHash = :kh AND disabled = :was"
    if not disabled:
        condition += " AND attribute_not_exists(deleting)"
    ops = [
        key_op,
        {
            "Update": {
                "Key": table.tenant_key(tenant.tenant_id),
                "UpdateExpression": "SET disabled = :dis, updatedAtMs = :now, gsi1pk = :gpk, gsi1sk = :tid",
                "ConditionExpression": condition,
                "ExpressionAttributeValues": table.values(
                    dis=disabled, now=now_ms, kh=tenant.key_hash, was=tenant.disabled,
                    gpk=table.tenants_gsi(_status(disabled)), tid=tenant.tenant_id,
                ),
            }
        },
    ]
    _run(ops, key_op=None if disabled else 0)


# --- listing ----------------------------------------------------------------------------------
def list_page(status: str | None, limit: int, cursor: str | None) -> tuple[list[Tenant], str | None]:
    """Tenants by status then id (enabled first), `limit` per page: Queries on the sparse gsi1 partitions
    `TENANTS#enabled` / `TENANTS#disabled`, never a table scan. The cursor names the last tenant returned."""
    statuses = [status] if status else list(STATUSES)
    start_status, start_id = _decode_cursor(cursor, statuses) if cursor else (statuses[0], "")
    found: list[Tenant] = []
    for current in statuses[statuses.index(start_status):]:
        kwargs: dict[str, Any] = {
            "TableName": table.table_name(),
            "IndexName": GSI,
            "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": table.values(p=table.tenants_gsi(current)),
            "Limit": limit - len(found),
        }
        if current == start_status and start_id:
            kwargs["ExclusiveStartKey"] = table.to_ddb(
                {**table.tenant_key(start_id), "gsi1pk": table.tenants_gsi(current), "gsi1sk": start_id}
            )
        resp = aws.dynamodb().query(**kwargs)
        found.extend(_to_tenant(table.from_ddb(i)) for i in resp.get("Items", []))
        if resp.get("LastEvaluatedKey"):
            return found, _encode_cursor(current, found[-1].tenant_id if found else start_id)
        if len(found) >= limit:
            following = statuses[statuses.index(current) + 1:]
            return found, _encode_cursor(following[0], "") if following else None
    return found, None


def _encode_cursor(status: str, tenant_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"s": status, "t": tenant_id}).encode()).decode()


def _decode_cursor(cursor: str, statuses: list[str]) -> tuple[str, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        status, tenant_id = data["s"], data["t"]
        if status not in statuses or not isinstance(tenant_id, str):
            raise ValueError
        if tenant_id and not re.match(TENANT_ID_PATTERN, tenant_id):
            raise ValueError
        return status, tenant_id
    except (ValueError, KeyError, TypeError):
        raise InvalidInputError(
            "cursor is not a valid pagination cursor for this listing.", code="INVALID_CURSOR",
            details={"fields": ["cursor"]},
        ) from None


# --- delete -----------------------------------------------------------------------------------
def mark_deleting(tenant: Tenant, now_ms: int) -> None:
    """First step of a delete: the key stops working and the tenant is disabled and flagged, so nothing
    (bootstrap, enable, claims, forwards) revives it while its items are swept."""
    table.transact(
        [
            {"Delete": {"Key": table.key_hash_key(tenant.key_hash)}},
            {
                "Update": {
                    "Key": table.tenant_key(tenant.tenant_id),
                    "UpdateExpression": "SET disabled = :t, deleting = :now, updatedAtMs = :now, gsi1pk = :gpk",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": table.values(
                        t=True, now=now_ms, gpk=table.tenants_gsi("disabled")
                    ),
                }
            },
        ]
    )


def _query_keys(partition: str) -> list[dict[str, Any]]:
    """Every item of one gsi1 partition (paginated Query)."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": table.table_name(),
        "IndexName": GSI,
        "KeyConditionExpression": "gsi1pk = :p",
        "ExpressionAttributeValues": table.values(p=partition),
    }
    while True:
        resp = aws.dynamodb().query(**kwargs)
        items.extend(table.from_ddb(i) for i in resp.get("Items", []))
        if not resp.get("LastEvaluatedKey"):
            return items
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def delete_tokens(tenant_id: str) -> int:
    """Every pairing token of the tenant: unclaimed ones, and claimed ones kept for a crashed claim's retry,
    with their token-id pointers (not counted: one per token)."""
    found = _query_keys(table.tenant_tokens_gsi(tenant_id))
    for item in found:
        table.delete({"pk": item["pk"], "sk": item["sk"]})
    return sum(1 for i in found if i.get("type") != "pairtokenid")


def delete_routes(
    tenant_id: str, now_ms: int, on_removed: Callable[[Binding], None] | None = None
) -> list[Binding]:
    """Remove every route lock and binding id of the tenant, leaving a marker per route that records the
    deletion (the worker dead-letters messages that arrived before it). Returns the bindings removed;
    `on_removed` is told of each one as it goes (a failure half-way must not forget those already gone:
    a repeated delete no longer finds them)."""
    found = [i for i in _query_keys(table.tenant_bindings_gsi(tenant_id)) if i.get("tenantId") == tenant_id]
    removed: list[Binding] = []
    for item in found:
        marker = {
            **table.route_gone_key(item["routeKey"]),
            "type": "routegone",
            "routeKey": item["routeKey"],
            "tenantId": tenant_id,
            "deletedAtMs": now_ms,
            table.TTL_ATTRIBUTE: now_ms // 1000 + ROUTE_GONE_TTL_SEC,
        }
        try:
            table.transact(
                [
                    {"Put": {"Item": marker}},
                    {
                        "Delete": {
                            "Key": table.route_key(item["routeKey"]),
                            "ConditionExpression": "bindingId = :bid",
                            "ExpressionAttributeValues": table.values(bid=item["bindingId"]),
                        }
                    },
                    {"Delete": {"Key": table.binding_key(item["bindingId"])}},
                ]
            )
        except Exception as exc:
            # A cancelled transaction: the route changed owner meanwhile (unbound, switched); not ours.
            if not table.is_conditional_failure(exc):
                raise
            continue
        try:
            binding = binding_from_item(item)
        except (KeyError, ValueError):  # a route item written before a field existed: removed, not reported
            continue
        removed.append(binding)
        if on_removed is not None:
            on_removed(binding)
    return removed


def delete_sessions(tenant_id: str) -> int:
    found = _query_keys(table.tenant_sessions_gsi(tenant_id))
    for item in found:
        table.delete({"pk": item["pk"], "sk": item["sk"]})
    return len(found)


def delete_tenant_item(tenant_id: str) -> None:
    table.delete(table.tenant_key(tenant_id))


def deleted_routes(route_keys: list[str], now_ms: int) -> dict[str, int]:
    """When each of these routes was taken from a deleted tenant (route key → deletedAtMs), in one read."""
    items = table.batch_get([table.route_gone_key(r) for r in route_keys])
    return {
        str(i["routeKey"]): int(i["deletedAtMs"])
        for i in items
        if i.get("type") == "routegone" and int(i.get(table.TTL_ATTRIBUTE, 0)) * 1000 > now_ms
    }
