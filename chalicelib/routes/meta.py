"""Unauthenticated meta routes: health, the OpenAPI document, and the JSON 404 for unknown paths."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib.errors import NotFoundError
from chalicelib.models import Ok
from chalicelib.routes.http import OPERATIONS, endpoint

bp = Blueprint(__name__)
VERSION = "0.1.0"


@endpoint(bp, "/health", ["GET"], summary="Liveness", auth="none", response=Ok)
def health() -> Any:
    return Ok()


@endpoint(bp, "/openapi.json", ["GET"], summary="This API's OpenAPI 3.1 document", auth="none")
def openapi() -> Any:
    from chalicelib import openapi as doc

    return doc.build(OPERATIONS, VERSION)


@endpoint(
    bp,
    "/{proxy+}",
    ["GET", "POST", "PUT", "PATCH", "DELETE"],
    summary="Unknown paths",
    auth="none",
    errors=(404,),
)
def not_found(**_params: str) -> Any:
    raise NotFoundError("No route matches this path.")
