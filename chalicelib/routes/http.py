"""Request plumbing shared by every route: body parsing and limits, auth, error mapping, the OpenAPI registry.

Chalice turns any exception escaping a view into its own 500, so every view is wrapped by `endpoint`,
which maps domain errors to the CONTRACT §2 error body at the route layer.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from chalice.app import Blueprint, Response
from pydantic import BaseModel, ValidationError

from chalicelib import observability
from chalicelib.config import get_settings
from chalicelib.errors import (
    ConfigurationError,
    InvalidInputError,
    MuxError,
    NotFoundError,
    PayloadTooLargeError,
    UnauthorizedError,
)
from chalicelib.models import Tenant

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Operation:
    path: str
    method: str
    summary: str
    auth: str  # "none" | "admin" | "tenant" | "platform"
    request: type[BaseModel] | None
    response: type[BaseModel] | None
    errors: tuple[int, ...]
    query: tuple[tuple[str, dict[str, Any]], ...] = ()  # (name, JSON schema) of optional query parameters


OPERATIONS: list[Operation] = []


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    data = body.model_dump(mode="json", exclude_none=False) if isinstance(body, BaseModel) else body
    return Response(
        body=json.dumps(data, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        headers={"Content-Type": JSON_CONTENT_TYPE, **(headers or {})},
    )


def error_response(exc: MuxError) -> Response:
    return json_response(exc.status, exc.body())


def validation_error(exc: ValidationError) -> InvalidInputError:
    """A 400 naming the offending field(s) without echoing their values (they may be secrets)."""
    parts = []
    for err in exc.errors()[:5]:
        field = ".".join(str(p) for p in err.get("loc", ())) or "body"
        parts.append(f"{field}: {err.get('msg', 'invalid')}")
    fields = [".".join(str(p) for p in e.get("loc", ())) for e in exc.errors()]
    return InvalidInputError("Invalid request: " + "; ".join(parts) + ".", details={"fields": fields})


def raw_body(bp: Blueprint) -> bytes:
    request = bp.current_request
    raw = request.raw_body or b""
    body = raw.encode("utf-8") if isinstance(raw, str) else raw
    if len(body) > get_settings().max_body_bytes:
        raise PayloadTooLargeError(
            f"The request body is larger than the {get_settings().max_body_bytes}-byte limit."
        )
    return body


def json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInputError("The request body is not valid JSON.", code="INVALID_JSON") from None
    if not isinstance(data, dict):
        raise InvalidInputError("The request body must be a JSON object.", code="INVALID_JSON")
    return data


def parse(bp: Blueprint, model: type[M]) -> M:
    data = json_object(raw_body(bp))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


def bearer_token(bp: Blueprint) -> str | None:
    header = bp.current_request.headers.get("authorization") or ""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def require_admin(bp: Blueprint) -> None:
    from chalicelib.secrets import same_secret

    expected = get_settings().admin_token
    if expected is None:
        # Admin routes do not exist unless an admin token is configured (CONTRACT §1).
        raise NotFoundError("No route matches this path.")
    if not same_secret(bearer_token(bp), expected):
        observability.count("AuthFailures", route="admin")
        raise UnauthorizedError("A valid admin bearer token is required.")


def _runtime_instance(bp: Blueprint, token: str | None) -> Tenant | None:
    """The JWT instance a runtime token (+ `X-OpenClaw-Id`) authenticates, or None; on a request with a body, the
    body's `openclawId` must equal the token's subject (CONTRACT §14), else 401."""
    from chalicelib.services import instances

    tenant = instances.authenticate_runtime(token, bp.current_request.headers.get("x-openclaw-id"))
    if tenant is None:
        return None
    if bp.current_request.method in ("POST", "PUT", "PATCH"):
        from chalicelib.secrets import same_secret

        claimed = json_object(raw_body(bp)).get("openclawId")
        if not isinstance(claimed, str) or not same_secret(claimed, tenant.tenant_id):
            observability.count("AuthFailures", route="tenant")
            raise UnauthorizedError(
                "The body's openclawId must equal the runtime token's subject.", code="OPENCLAW_ID_MISMATCH"
            )
    return tenant


def require_tenant_id(bp: Blueprint) -> str:
    """Authenticate a tenant key (one read) or a runtime JWT (routes that need only the tenant's id)."""
    from chalicelib.services import tenants

    token = bearer_token(bp)
    instance = _runtime_instance(bp, token)
    tenant_id = instance.tenant_id if instance is not None else tenants.authenticate_id(token)
    if tenant_id is None:
        observability.count("AuthFailures", route="tenant")
        raise UnauthorizedError("A valid tenant bearer key is required.")
    observability.log_keys(tenant_id=tenant_id)
    return tenant_id


def require_tenant(bp: Blueprint) -> Tenant:
    """Authenticate a tenant key or a runtime JWT and load the tenant's record."""
    from chalicelib.services import tenants

    token = bearer_token(bp)
    tenant = _runtime_instance(bp, token) or tenants.authenticate(token)
    if tenant is None:
        observability.count("AuthFailures", route="tenant")
        raise UnauthorizedError("A valid tenant bearer key is required.")
    observability.log_keys(tenant_id=tenant.tenant_id)
    return tenant


def endpoint(
    bp: Blueprint,
    path: str,
    methods: list[str],
    *,
    summary: str,
    auth: str,
    request: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    errors: tuple[int, ...] = (),
    content_types: list[str] | None = None,
    query: dict[str, dict[str, Any]] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a Chalice route whose domain errors become CONTRACT §2 bodies, and document it."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        for method in methods:
            OPERATIONS.append(
                Operation(path, method.lower(), summary, auth, request, response, errors,
                          tuple((query or {}).items()))
            )

        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                result = view(*args, **kwargs)
            except ConfigurationError as exc:
                # An operator's mistake, not a caller's: alarm on the metric (infra/resources.json), and the
                # log names the variable to set.
                observability.count("ConfigurationError")
                observability.logger().error(
                    "configuration error", extra={"code": exc.code, "setting": exc.variable, "problem": exc.message}
                )
                return error_response(exc)
            except MuxError as exc:
                if exc.status >= 500:
                    observability.logger().error("request failed", extra={"code": exc.code})
                return error_response(exc)
            except ValidationError as exc:
                return error_response(validation_error(exc))
            except Exception:
                observability.logger().exception("unhandled error")
                return error_response(MuxError("An unexpected error occurred."))
            if isinstance(result, Response):
                return result
            return json_response(200, result)

        route_kwargs: dict[str, Any] = {"methods": methods}
        # Any body reaches the view, which answers a bad one with the contract's error (Chalice's own 415 has
        # another shape). No binary media type may be listed next to text ones: `chalice deploy` refuses
        # such a route ("All content_types must be consistent in their binary support").
        route_kwargs["content_types"] = content_types or ["*/*"]
        bp.route(path, **route_kwargs)(wrapped)
        return wrapped

    return decorator
