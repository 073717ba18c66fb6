"""Tenant routes (tenant bearer): inbound target."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib.models import InboundTargetRequest, InboundTargetResponse, Tenant
from chalicelib.routes.http import endpoint, parse, require_tenant
from chalicelib.services import tenants

bp = Blueprint(__name__)


def _target(tenant: Tenant) -> InboundTargetResponse:
    return InboundTargetResponse(
        configured=bool(tenant.inbound_url),
        inboundUrl=tenant.inbound_url,
        inboundTimeoutMs=tenant.inbound_timeout_ms,
    )


@endpoint(
    bp,
    "/v1/tenant/inbound-target",
    ["GET"],
    summary="The tenant's OpenClaw inbound URL",
    auth="tenant",
    response=InboundTargetResponse,
    errors=(401,),
)
def get_inbound_target() -> Any:
    return _target(require_tenant(bp))


@endpoint(
    bp,
    "/v1/tenant/inbound-target",
    ["POST"],
    summary="Change the tenant's OpenClaw inbound URL (effective on the next forward)",
    auth="tenant",
    request=InboundTargetRequest,
    response=InboundTargetResponse,
    errors=(400, 401, 413),
)
def set_inbound_target() -> Any:
    tenant = require_tenant(bp)
    return _target(tenants.set_inbound_target(tenant, parse(bp, InboundTargetRequest)))
