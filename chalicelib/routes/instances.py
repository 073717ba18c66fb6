"""Runtime-JWT OpenClaw routes (CONTRACT §14): registration (register key), the JWKS (public), and the operator's
pairing tokens and signing-key rotation (admin). The rules live in services.instances."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib.models import (
    AdminPairingTokenRequest,
    JwksResponse,
    PairingTokenRequest,
    PairingTokenResponse,
    RegisterRequest,
    RegisterResponse,
    RotateSigningKeyRequest,
    SigningKeysResponse,
)
from chalicelib.routes.http import bearer_token, endpoint, json_response, parse, require_admin
from chalicelib.services import instances

bp = Blueprint(__name__)


@endpoint(
    bp,
    "/v1/instances/register",
    ["POST"],
    summary="Register a runtime-JWT OpenClaw instance (Bearer <MUX_REGISTER_KEY>); answers its runtime token",
    auth="register",
    request=RegisterRequest,
    response=RegisterResponse,
    errors=(400, 401, 403, 404, 409, 413, 503),
)
def register() -> Any:
    instances.require_register_key(bearer_token(bp))
    return instances.register(parse(bp, RegisterRequest))


@endpoint(
    bp,
    "/.well-known/jwks.json",
    ["GET"],
    summary="The public keys that verify mux-signed JWTs (current, upcoming and still-trusted previous keys)",
    auth="none",
    response=JwksResponse,
)
def jwks() -> Any:
    # Short public caching: a rotation publishes a key well before it signs (see services.instances).
    return json_response(200, instances.jwks(), {"Cache-Control": "public, max-age=60"})


@endpoint(
    bp,
    "/v1/admin/pairings/token",
    ["POST"],
    summary="Mint a pairing token for a registered runtime-JWT instance (by openclawId)",
    auth="admin",
    request=AdminPairingTokenRequest,
    response=PairingTokenResponse,
    errors=(400, 401, 404, 413),
)
def admin_pairing_token() -> Any:
    require_admin(bp)
    from chalicelib.services import pairing

    req = parse(bp, AdminPairingTokenRequest)
    instance = instances.get_instance(req.openclawId)
    return pairing.create_token(
        instance.tenant_id,
        PairingTokenRequest(channel=req.channel, ttlSec=req.ttlSec, sessionKey=req.sessionKey, agentId=req.agentId),
    )


@endpoint(
    bp,
    "/v1/admin/signing-keys",
    ["GET"],
    summary="The JWT signing keys: which one signs, when each activates and retires",
    auth="admin",
    response=SigningKeysResponse,
    errors=(401, 404),
)
def list_signing_keys() -> Any:
    require_admin(bp)
    return instances.list_keys()


@endpoint(
    bp,
    "/v1/admin/signing-keys/rotate",
    ["POST"],
    summary="Rotate the JWT signing key: the new key is published now and signs after activateAfterSec",
    auth="admin",
    request=RotateSigningKeyRequest,
    response=SigningKeysResponse,
    errors=(400, 401, 404, 413),
)
def rotate_signing_key() -> Any:
    require_admin(bp)
    return instances.rotate(parse(bp, RotateSigningKeyRequest))
