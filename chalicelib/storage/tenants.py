"""Tenant items and the key-hash → tenant lock (rotation in one transaction)."""

from __future__ import annotations

from typing import Any

from chalicelib.errors import ConflictError
from chalicelib.models import Tenant
from chalicelib.storage import table


def _to_tenant(item: dict[str, Any]) -> Tenant:
    return Tenant(
        tenant_id=item["tenantId"],
        name=item["name"],
        inbound_url=item.get("inboundUrl"),
        inbound_timeout_ms=item.get("inboundTimeoutMs", 15000),
        key_hash=item["keyHash"],
        key_ciphertext=item["keyCiphertext"],
        disabled=bool(item.get("disabled", False)),
        created_at_ms=item["createdAtMs"],
        updated_at_ms=item["updatedAtMs"],
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
        "createdAtMs": tenant.created_at_ms,
        "updatedAtMs": tenant.updated_at_ms,
    }


def get(tenant_id: str) -> Tenant | None:
    item = table.get(table.tenant_key(tenant_id))
    return _to_tenant(item) if item else None


def tenant_id_for_key_hash(key_hash: str) -> str | None:
    item = table.get(table.key_hash_key(key_hash))
    return str(item["tenantId"]) if item else None


def save(tenant: Tenant, previous: Tenant | None) -> None:
    """Create or update a tenant and its key-hash lock atomically.

    The new key hash must be free or already ours (else 409 API_KEY_IN_USE); a changed key deletes the old
    hash in the same transaction, so the old key stops working the moment the new one starts.
    The tenant write is conditioned on the state we read (no lost update between two bootstraps).
    """
    ops: list[dict[str, Any]] = [
        {
            "Put": {
                "Item": {**table.key_hash_key(tenant.key_hash), "type": "keyhash", "tenantId": tenant.tenant_id},
                "ConditionExpression": "attribute_not_exists(pk) OR tenantId = :tid",
                "ExpressionAttributeValues": table.values(tid=tenant.tenant_id),
            }
        }
    ]
    if previous is None:
        tenant_cond: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
    else:
        tenant_cond = {
            "ConditionExpression": "keyHash = :old",
            "ExpressionAttributeValues": table.values(old=previous.key_hash),
        }
        if previous.key_hash != tenant.key_hash:
            ops.append({"Delete": {"Key": table.key_hash_key(previous.key_hash)}})
    ops.append({"Put": {"Item": _to_item(tenant), **tenant_cond}})
    try:
        table.transact(ops)
    except Exception as exc:
        if not table.is_conditional_failure(exc):
            raise
        reasons = table.cancellation_reasons(exc)
        if reasons and reasons[0] == "ConditionalCheckFailed":
            raise ConflictError("This apiKey is already used by another tenant.", code="API_KEY_IN_USE") from None
        raise ConflictError(
            "The tenant changed while it was being updated; retry the request.", code="CONCURRENT_UPDATE"
        ) from None


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


def disable(tenant: Tenant, now_ms: int) -> None:
    """Disable a tenant: its key hash lock is removed (the key stops working) and forwarding stops."""
    table.transact(
        [
            {"Delete": {"Key": table.key_hash_key(tenant.key_hash)}},
            {
                "Update": {
                    "Key": table.tenant_key(tenant.tenant_id),
                    "UpdateExpression": "SET disabled = :t, updatedAtMs = :now",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": table.values(t=True, now=now_ms),
                }
            },
        ]
    )
