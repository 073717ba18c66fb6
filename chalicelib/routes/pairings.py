"""Pairing routes (tenant bearer): tokens, bindings list, unbind, sessions, and the inbound file proxy."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib.models import (
    Ok,
    PairingListResponse,
    PairingTokenRequest,
    PairingTokenResponse,
    SessionListResponse,
    TokenStatusResponse,
    UnbindRequest,
)
from chalicelib.routes.http import endpoint, parse, require_tenant_id
from chalicelib.services import pairing

bp = Blueprint(__name__)


def _query(name: str) -> str | None:
    params = bp.current_request.query_params
    value = params.get(name) if params else None
    return str(value) if value is not None else None


@endpoint(
    bp,
    "/v1/pairings/token",
    ["POST"],
    summary="Mint a one-time pairing token (and Telegram deep link; ?qr=svg adds an SVG QR code of it)",
    auth="tenant",
    request=PairingTokenRequest,
    response=PairingTokenResponse,
    errors=(400, 401, 413),
    query={"qr": {"type": "string", "enum": ["svg"]}},
)
def create_token() -> Any:
    tenant_id = require_tenant_id(bp)
    return pairing.create_token(tenant_id, parse(bp, PairingTokenRequest), _query("qr"))


@endpoint(
    bp,
    "/v1/pairings/tokens/{tokenId}",
    ["GET"],
    summary="A pairing token's status: pending | claimed | expired | revoked (?waitMs= long-polls a pending "
    "one, up to 20000 ms)",
    auth="tenant",
    response=TokenStatusResponse,
    errors=(400, 401, 404),
    query={"waitMs": {"type": "integer", "minimum": 0, "maximum": pairing.MAX_WAIT_MS}},
)
def token_status(tokenId: str) -> Any:  # noqa: N803 - the path parameter's name is the API's
    tenant_id = require_tenant_id(bp)
    wait = pairing.parse_wait(_query("waitMs"))
    context = getattr(bp, "lambda_context", None)
    time_left = getattr(context, "get_remaining_time_in_millis", None)
    return pairing.token_status(tenant_id, tokenId, wait, time_left if callable(time_left) else None)


@endpoint(
    bp,
    "/v1/pairings/tokens/{tokenId}/revoke",
    ["POST"],
    summary="Revoke a pending pairing token (idempotent; a claimed or expired one → 409)",
    auth="tenant",
    response=TokenStatusResponse,
    errors=(401, 404, 409),
)
def revoke_token(tokenId: str) -> Any:  # noqa: N803 - the path parameter's name is the API's
    tenant_id = require_tenant_id(bp)
    return pairing.revoke_token(tenant_id, tokenId)


@endpoint(
    bp,
    "/v1/pairings",
    ["GET"],
    summary="The tenant's bindings with display fields, newest first (?limit=&cursor=&channel=)",
    auth="tenant",
    response=PairingListResponse,
    errors=(400, 401),
    query={
        "limit": {"type": "integer", "minimum": 1, "maximum": 200},
        "cursor": {"type": "string"},
        "channel": {"type": "string", "enum": ["telegram", "discord", "whatsapp"]},
    },
)
def list_pairings() -> Any:
    tenant_id = require_tenant_id(bp)
    channel = pairing.parse_channel(_query("channel"))
    return pairing.list_bindings(tenant_id, pairing.parse_limit(_query("limit")), _query("cursor"), channel)


@endpoint(
    bp,
    "/v1/pairings/unbind",
    ["POST"],
    summary="Remove a binding; the chat is no longer forwarded",
    auth="tenant",
    request=UnbindRequest,
    response=Ok,
    errors=(400, 401, 404, 413),
)
def unbind() -> Any:
    tenant_id = require_tenant_id(bp)
    pairing.unbind(tenant_id, parse(bp, UnbindRequest).bindingId)
    return Ok()


@endpoint(
    bp,
    "/v1/mux/sessions",
    ["GET"],
    summary="The sessions a tenant can offer: its bound chats' sessions and the agents it declared",
    auth="tenant",
    response=SessionListResponse,
    errors=(400, 401),
    query={"limit": {"type": "integer", "minimum": 1, "maximum": 200}, "cursor": {"type": "string"}},
)
def list_sessions() -> Any:
    tenant_id = require_tenant_id(bp)
    return pairing.list_sessions(tenant_id, pairing.parse_limit(_query("limit"), 200), _query("cursor"))


@endpoint(
    bp,
    "/v1/mux/files/{channel}",
    ["GET"],
    summary="An inbound attachment's bytes (?id=<platform file id>), for files from this tenant's routes",
    auth="tenant",
    errors=(400, 401, 404, 502),
)
def get_file(channel: str) -> Any:
    from chalice.app import Response

    from chalicelib.services import files

    tenant_id = require_tenant_id(bp)
    data, mime, name = files.fetch(tenant_id, channel, _query("id"))
    headers: dict[str, str | list[str]] = {"Content-Type": mime, "Cache-Control": "private, max-age=300"}
    if name:
        safe = "".join(c for c in name if c.isalnum() or c in "._- ")[:200] or "file"
        headers["Content-Disposition"] = f'attachment; filename="{safe}"'
    return Response(body=data, status_code=200, headers=headers)
