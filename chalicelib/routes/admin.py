"""Operator routes (admin bearer): tenant bootstrap/rotation, inspection, disable, health."""

from __future__ import annotations

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
