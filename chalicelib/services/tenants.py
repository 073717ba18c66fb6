"""Tenant provisioning (bootstrap/rotation/disable), authentication by key, inbound target."""

from __future__ import annotations

from chalicelib import secrets
from chalicelib.clock import now_ms
from chalicelib.config import get_settings
from chalicelib.errors import NotFoundError
from chalicelib.models import BootstrapRequest, InboundTargetRequest, Tenant, TenantResponse
from chalicelib.services.urls import check_inbound_url
from chalicelib.storage import tenants as store


def to_response(tenant: Tenant) -> TenantResponse:
    return TenantResponse(
        tenantId=tenant.tenant_id,
        name=tenant.name,
        inboundUrl=tenant.inbound_url,
        inboundTimeoutMs=tenant.inbound_timeout_ms,
        disabled=tenant.disabled,
        createdAtMs=tenant.created_at_ms,
        updatedAtMs=tenant.updated_at_ms,
    )


def bootstrap(req: BootstrapRequest) -> Tenant:
    """Upsert a tenant. A new apiKey rotates the key (the old one fails at once); re-bootstrapping a
    disabled tenant enables it again (bootstrap is the provisioning *and* update path)."""
    settings = get_settings()
    inbound_url = check_inbound_url(req.inboundUrl, allow_private=settings.allow_private_inbound_urls)
    previous = store.get(req.tenantId)
    new_hash = secrets.key_hash(req.apiKey)
    if previous is not None and previous.key_hash == new_hash:
        ciphertext = previous.key_ciphertext
    else:
        ciphertext = secrets.encrypt_key(req.tenantId, req.apiKey)
    now = now_ms()
    tenant = Tenant(
        tenant_id=req.tenantId,
        name=req.name or (previous.name if previous and req.name is None else req.tenantId),
        inbound_url=inbound_url,
        inbound_timeout_ms=req.inboundTimeoutMs,
        key_hash=new_hash,
        key_ciphertext=ciphertext,
        disabled=False,
        created_at_ms=previous.created_at_ms if previous else now,
        updated_at_ms=now,
    )
    store.save(tenant, previous)
    return tenant


def get(tenant_id: str) -> Tenant:
    tenant = store.get(tenant_id)
    if tenant is None:
        raise NotFoundError(f"Tenant {tenant_id!r} does not exist.", code="TENANT_NOT_FOUND")
    return tenant


def disable(tenant_id: str) -> Tenant:
    tenant = get(tenant_id)
    if not tenant.disabled:
        store.disable(tenant, now_ms())
    return get(tenant_id)


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
