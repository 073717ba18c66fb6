"""Operator routes (admin bearer): tenant bootstrap/rotation, listing, inspection, disable/enable, delete,
health, dead letters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalice.app import Blueprint

from chalicelib.errors import InvalidInputError
from chalicelib.models import (
    AdminHealthResponse,
    BootstrapRequest,
    DeadLetterItem,
    DeadLetterListResponse,
    RedriveRequest,
    RedriveResponse,
    TenantDeleteResponse,
    TenantListResponse,
    TenantResponse,
)
from chalicelib.routes.http import endpoint, parse, require_admin
from chalicelib.services import tenants

bp = Blueprint(__name__)


@endpoint(
    bp,
    "/v1/admin/tenants/bootstrap",
    ["POST"],
    summary="Create or update a tenant; a new apiKey rotates the key",
    auth="admin",
    request=BootstrapRequest,
    response=TenantResponse,
    errors=(400, 401, 404, 409, 413),
)
def bootstrap() -> Any:
    require_admin(bp)
    tenant = tenants.bootstrap(parse(bp, BootstrapRequest))
    return tenants.to_response(tenant)


@endpoint(
    bp,
    "/v1/admin/tenants",
    ["GET"],
    summary="List tenants (never their keys), enabled first then by id; ?status=enabled|disabled, ?limit=, ?cursor=",
    auth="admin",
    response=TenantListResponse,
    errors=(400, 401, 404),
    query={
        "status": {"type": "string", "enum": ["enabled", "disabled"]},
        "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
        "cursor": {"type": "string", "description": "nextCursor of the previous page"},
    },
)
def list_tenants() -> Any:
    require_admin(bp)
    from chalicelib.services.pairing import parse_limit

    params: Mapping[str, str] = bp.current_request.query_params or {}
    status = params.get("status") or None
    if status is not None and status not in ("enabled", "disabled"):
        raise InvalidInputError("status must be enabled or disabled.", details={"fields": ["status"]})
    limit = parse_limit(params.get("limit"), default=50, maximum=200)
    return tenants.list_tenants(status, limit, params.get("cursor") or None)


@endpoint(
    bp,
    "/v1/admin/tenants/{tenantId}",
    ["GET"],
    summary="Show a tenant (never its key)",
    auth="admin",
    response=TenantResponse,
    errors=(401, 404),
)
def show_tenant(tenantId: str) -> Any:  # noqa: N803 - path parameter name is the contract's
    require_admin(bp)
    return tenants.to_response(tenants.get(tenantId))


@endpoint(
    bp,
    "/v1/admin/tenants/{tenantId}/disable",
    ["POST"],
    summary="Disable a tenant: its key stops working and its routes stop forwarding",
    auth="admin",
    response=TenantResponse,
    errors=(401, 404),
)
def disable_tenant(tenantId: str) -> Any:  # noqa: N803
    require_admin(bp)
    return tenants.to_response(tenants.disable(tenantId))


@endpoint(
    bp,
    "/v1/admin/tenants/{tenantId}/enable",
    ["POST"],
    summary="Enable a disabled tenant: its key works again and its routes forward again",
    auth="admin",
    response=TenantResponse,
    errors=(401, 404, 409),
)
def enable_tenant(tenantId: str) -> Any:  # noqa: N803
    require_admin(bp)
    return tenants.to_response(tenants.enable(tenantId))


@endpoint(
    bp,
    "/v1/admin/tenants/{tenantId}",
    ["DELETE"],
    summary="Delete a tenant: key, bindings, route locks, session routes, pairing tokens; its queued messages "
    "are dead-lettered (reason \"tenant deleted\"). Deleting again is 404 TENANT_NOT_FOUND",
    auth="admin",
    response=TenantDeleteResponse,
    errors=(401, 404),
)
def delete_tenant(tenantId: str) -> Any:  # noqa: N803
    require_admin(bp)
    return tenants.delete(tenantId)


@endpoint(
    bp,
    "/v1/admin/health",
    ["GET"],
    summary="Dependencies, queue depths and channel enablement",
    auth="admin",
    response=AdminHealthResponse,
    errors=(401, 404),
)
def admin_health() -> Any:
    require_admin(bp)
    from chalicelib.services import health

    return health.report()


@endpoint(
    bp,
    "/v1/admin/dead-letters",
    ["GET"],
    summary="Dead-lettered inbound messages with the reason each failed (?limit=)",
    auth="admin",
    response=DeadLetterListResponse,
    errors=(400, 401, 404),
)
def list_dead_letters() -> Any:
    require_admin(bp)
    from chalicelib import queue
    from chalicelib.services.pairing import parse_limit

    params = bp.current_request.query_params
    limit = parse_limit(params.get("limit") if params else None, default=100, maximum=1000)
    return DeadLetterListResponse(items=[DeadLetterItem(**d.summary()) for d in queue.list_dead(limit)])


@endpoint(
    bp,
    "/v1/admin/dead-letters/redrive",
    ["POST"],
    summary="Send dead letters (given ids, or all) back to the inbound queue",
    auth="admin",
    request=RedriveRequest,
    response=RedriveResponse,
    errors=(400, 401, 404, 413),
)
def redrive_dead_letters() -> Any:
    require_admin(bp)
    from chalicelib import queue

    req = parse(bp, RedriveRequest)
    if not req.all and not req.ids:
        raise InvalidInputError("Give the dead-letter ids to redrive, or all: true.", details={"fields": ["ids"]})
    result = queue.redrive(None if req.all else set(req.ids or []), limit=req.limit, before_ms=req.beforeMs)
    return RedriveResponse(redriven=result.moved, more=result.more, beforeMs=result.before_ms)
