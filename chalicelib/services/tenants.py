"""Tenant provisioning and lifecycle (bootstrap/rotation, list, disable/enable, delete), authentication by
key, inbound target."""

from __future__ import annotations

from chalicelib import secrets
from chalicelib.clock import now_ms
from chalicelib.config import get_settings
from chalicelib.errors import ConflictError, NotFoundError
from chalicelib.models import (
    BootstrapRequest,
    InboundTargetRequest,
    Tenant,
    TenantDeleteResponse,
    TenantListItem,
    TenantListResponse,
    TenantResponse,
)
from chalicelib.services import notify_events
from chalicelib.services.urls import check_inbound_url
from chalicelib.storage import tenants as store


def to_response(tenant: Tenant) -> TenantResponse:
    return TenantResponse(
        tenantId=tenant.tenant_id,
        name=tenant.name,
        inboundUrl=tenant.inbound_url,
        inboundTimeoutMs=tenant.inbound_timeout_ms,
        sharedTenantKey=tenant.mode == "shared-key",
        mode=tenant.mode,
        disabled=tenant.disabled,
        agents=tenant.agents,
        eventsUrl=tenant.events_url,
        createdAtMs=tenant.created_at_ms,
        updatedAtMs=tenant.updated_at_ms,
    )


# Attempts of a read-then-conditional-write before a concurrent change is reported (409 CONCURRENT_UPDATE).
WRITE_ATTEMPTS = 5


def bootstrap(req: BootstrapRequest) -> Tenant:
    """Upsert a tenant. A new apiKey rotates the key (the old one fails at once). Bootstrap never changes
    the disabled flag (only disable/enable do): a disabled tenant stays disabled, with its new settings."""
    settings = get_settings()
    inbound_url = check_inbound_url(req.inboundUrl, allow_private=settings.allow_private_inbound_urls)
    events_url = (
        check_inbound_url(req.eventsUrl, allow_private=settings.allow_private_inbound_urls, field="eventsUrl")
        if req.eventsUrl is not None else None
    )
    new_hash = secrets.key_hash(req.apiKey)
    fresh_ciphertext: str | None = None
    for _ in range(WRITE_ATTEMPTS):
        previous = store.get(req.tenantId)
        if previous is not None and previous.mode != "shared-key":
            raise ConflictError(
                f"Tenant {req.tenantId!r} is a registered runtime-JWT OpenClaw instance; it has no shared key.",
                code="TENANT_MODE_CONFLICT",
            )
        if previous is not None and previous.key_hash == new_hash:
            ciphertext = previous.key_ciphertext
        else:
            fresh_ciphertext = fresh_ciphertext or secrets.encrypt_key(req.tenantId, req.apiKey)
            ciphertext = fresh_ciphertext
        now = now_ms()
        tenant = Tenant(
            tenant_id=req.tenantId,
            name=req.name or (previous.name if previous and req.name is None else req.tenantId),
            inbound_url=inbound_url,
            inbound_timeout_ms=req.inboundTimeoutMs,
            key_hash=new_hash,
            key_ciphertext=ciphertext,
            disabled=previous.disabled if previous else False,
            # Omitted: kept; [] clears (duplicates dropped, order kept).
            agents=list(dict.fromkeys(req.agents)) if req.agents is not None else (previous.agents if previous else []),
            # Omitted: kept; an explicit null removes it (no more events).
            events_url=events_url if "eventsUrl" in req.model_fields_set else previous.events_url if previous else None,
            created_at_ms=previous.created_at_ms if previous else now,
            updated_at_ms=now,
        )
        try:
            store.save(tenant, previous)
        except store.ConcurrentChangeError:
            if store.is_deleting(req.tenantId):
                raise _being_deleted(req.tenantId) from None
            continue
        return tenant
    raise _concurrent(req.tenantId)


def _concurrent(tenant_id: str) -> ConflictError:
    return ConflictError(
        f"Tenant {tenant_id!r} changed while it was being updated; retry the request.", code="CONCURRENT_UPDATE"
    )


def _being_deleted(tenant_id: str) -> ConflictError:
    return ConflictError(
        f"Tenant {tenant_id!r} is being deleted; repeat the DELETE to finish it, then bootstrap it again.",
        code="TENANT_BEING_DELETED",
    )


def get(tenant_id: str) -> Tenant:
    tenant = store.get(tenant_id)
    if tenant is None:
        raise NotFoundError(f"Tenant {tenant_id!r} does not exist.", code="TENANT_NOT_FOUND")
    return tenant


def disable(tenant_id: str) -> Tenant:
    """Idempotent; always wins over a concurrent bootstrap (each retries on the other's change)."""
    return _set_disabled(tenant_id, True)


def enable(tenant_id: str) -> Tenant:
    """Idempotent; the key works again (409 API_KEY_IN_USE if another tenant took it while disabled)."""
    return _set_disabled(tenant_id, False)


def _set_disabled(tenant_id: str, disabled: bool) -> Tenant:
    for _ in range(WRITE_ATTEMPTS):
        tenant = get(tenant_id)
        if tenant.disabled == disabled:
            if not disabled and store.is_deleting(tenant_id):
                raise _being_deleted(tenant_id)
            return tenant
        try:
            store.set_disabled(tenant, disabled, now_ms())
        except store.ConcurrentChangeError:
            if store.is_deleting(tenant_id):
                raise _being_deleted(tenant_id) from None
            continue
        return get(tenant_id)
    raise _concurrent(tenant_id)


def list_tenants(status: str | None, limit: int, cursor: str | None) -> TenantListResponse:
    found, next_cursor = store.list_page(status, limit, cursor)
    return TenantListResponse(
        items=[
            TenantListItem(
                tenantId=t.tenant_id,
                name=t.name,
                status="disabled" if t.disabled else "enabled",
                inboundUrl=t.inbound_url,
                inboundTimeoutMs=t.inbound_timeout_ms,
                disabled=t.disabled,
                mode=t.mode,
                createdAtMs=t.created_at_ms,
                updatedAtMs=t.updated_at_ms,
            )
            for t in found
        ],
        nextCursor=next_cursor,
    )


def delete(tenant_id: str) -> TenantDeleteResponse:
    """Delete a tenant and everything that names it: key-hash lock, pairing tokens, bindings (route locks
    and binding ids; each route keeps a marker of the deletion so the worker dead-letters the tenant's
    queued messages with reason "tenant deleted"), session routes, and last the tenant item.

    The first step disables the tenant and flags it, so a delete interrupted half-way leaves a disabled
    tenant that nothing revives, and repeating the DELETE finishes it. A tenant already gone is 404.
    Tokens go before bindings: a claim racing the delete consumes a token, so once the tokens are gone no
    new binding can appear behind the sweep.
    """
    tenant = get(tenant_id)
    now = now_ms()
    store.mark_deleting(tenant, now)
    tokens = store.delete_tokens(tenant_id)
    removed = store.delete_routes(
        tenant_id, now, on_removed=lambda b: notify_events.binding_removed(tenant, b, notify_events.BY_TENANT_DELETE)
    )
    sessions = store.delete_sessions(tenant_id)
    store.delete_tenant_item(tenant_id)
    return TenantDeleteResponse(
        tenantId=tenant_id, deleted={"bindings": len(removed), "sessions": sessions, "pairingTokens": tokens}
    )


def authenticate_id(key: str | None) -> str | None:
    """The id of the enabled tenant owning this key, or None: one GetItem on the key's SHA-256.

    The key-hash item exists exactly while the key is valid: rotation deletes the old one and disabling a
    tenant deletes its one, each in the same transaction as the tenant change, so its presence is the
    authentication (DynamoDB compares the full 256-bit hash as the item key)."""
    if not key:
        return None
    return store.tenant_id_for_key_hash(secrets.key_hash(key))


def authenticate(key: str | None) -> Tenant | None:
    """The enabled tenant owning this key, or None (routes that need the tenant's record)."""
    tenant_id = authenticate_id(key)
    if tenant_id is None:
        return None
    tenant = store.get(tenant_id)
    if tenant is None or tenant.disabled or not secrets.same_secret(tenant.key_hash, secrets.key_hash(key or "")):
        return None
    return tenant


def set_inbound_target(tenant: Tenant, req: InboundTargetRequest) -> Tenant:
    url = check_inbound_url(req.inboundUrl, allow_private=get_settings().allow_private_inbound_urls)
    timeout = req.inboundTimeoutMs if req.inboundTimeoutMs is not None else tenant.inbound_timeout_ms
    store.update_fields(tenant.tenant_id, inboundUrl=url, inboundTimeoutMs=timeout, updatedAtMs=now_ms())
    return get(tenant.tenant_id)
