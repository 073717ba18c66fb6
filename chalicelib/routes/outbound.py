"""Outbound routes (tenant bearer): OpenClaw → mux → chat (CONTRACT §7). The rules live in services.outbound."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Response

from chalicelib import secrets, signing
from chalicelib.errors import MuxError
from chalicelib.models import Ok, OutboundRequest, SendResponse, TypingRequest
from chalicelib.routes.http import bearer_token, endpoint, json_object, json_response, raw_body, require_tenant_id
from chalicelib.services import outbound

bp = Blueprint(__name__)

_ERRORS = (400, 401, 403, 409, 413, 502)


def _answer(result: outbound.Outcome) -> Response:
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return json_response(result.status, result.body, headers)


def _idempotency_key() -> str | None:
    value: str | None = bp.current_request.headers.get("idempotency-key")
    return value


def _caller() -> outbound.Caller:
    """A runtime JWT is verified here (no read); a tenant key is checked by the send itself, in the same
    BatchGetItem as its destination (the hot path's one round trip)."""
    token = bearer_token(bp)
    if token is not None and signing.looks_like_jwt(token):
        return outbound.Caller(tenant_id=require_tenant_id(bp))
    return outbound.Caller(key_hash=secrets.key_hash(token) if token else None)


def _body(caller: outbound.Caller) -> dict[str, Any]:
    try:
        return json_object(raw_body(bp))
    except MuxError:
        outbound.authenticate(caller)  # a wrong key is answered 401 whatever the body
        raise


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
    caller = _caller()
    return _answer(outbound.send(caller, _body(caller), idempotency_key=_idempotency_key()))


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
    caller = _caller()
    return _answer(outbound.typing(caller, _body(caller), idempotency_key=_idempotency_key()))
