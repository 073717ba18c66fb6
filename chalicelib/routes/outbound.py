"""Outbound routes (tenant bearer): OpenClaw → mux → chat (CONTRACT §7). The rules live in services.outbound."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.models import Ok, OutboundRequest, SendResponse, TypingRequest
from chalicelib.routes.http import endpoint, json_object, json_response, raw_body, require_tenant_id
from chalicelib.services import outbound

bp = Blueprint(__name__)

_ERRORS = (400, 401, 403, 409, 413, 502)


def _answer(result: outbound.Outcome) -> Response:
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return json_response(result.status, result.body, headers)


def _idempotency_key() -> str | None:
    value: str | None = bp.current_request.headers.get("idempotency-key")
    return value


@endpoint(
    bp,
    "/v1/mux/outbound/send",
    ["POST"],
    summary="Send a message (or a typing action) to the chat bound to a session key",
    auth="tenant",
    request=OutboundRequest,
    response=SendResponse,
    errors=_ERRORS,
)
def send() -> Any:
    tenant_id = require_tenant_id(bp)
    data = json_object(raw_body(bp))
    return _answer(outbound.send(tenant_id, data, idempotency_key=_idempotency_key()))


@endpoint(
    bp,
    "/v1/mux/outbound/typing",
    ["POST"],
    summary="Show a typing indicator in the chat bound to a session key",
    auth="tenant",
    request=TypingRequest,
    response=Ok,
    errors=_ERRORS,
)
def typing() -> Any:
    tenant_id = require_tenant_id(bp)
    data = json_object(raw_body(bp))
    return _answer(outbound.typing(tenant_id, data, idempotency_key=_idempotency_key()))
