"""OpenAPI 3.1 document generated from the registered operations and their pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from chalicelib.models import ErrorBody

_AUTH: dict[str, list[dict[str, list[str]]]] = {
    "admin": [{"adminToken": []}],
    "tenant": [{"tenantKey": []}, {"runtimeJwt": []}],
    "register": [{"registerKey": []}],
    "none": [],
    "platform": [],
}


def build(operations: list[Any], version: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas.setdefault(name, sub)
        schemas.setdefault(model.__name__, schema)
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    error_ref = ref(ErrorBody)
    paths: dict[str, Any] = {}
    for op in operations:
        if "+}" in op.path:
            continue  # the catch-all that answers unknown paths with a JSON 404 is not an operation
        item: dict[str, Any] = {
            "summary": op.summary,
            "operationId": f"{op.method}_{re.sub(r'[^A-Za-z0-9]+', '_', op.path).strip('_')}",
            "security": _AUTH.get(op.auth, []),
            "responses": {},
        }
        params = re.findall(r"{(\w+)}", op.path)
        parameters = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params]
        parameters += [
            {"name": name, "in": "query", "required": False, "schema": schema}
            for name, schema in getattr(op, "query", ())
        ]
        if parameters:
            item["parameters"] = parameters
        if op.request is not None:
            item["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(op.request)}},
            }
        ok: dict[str, Any] = {"description": "Success"}
        if op.response is not None:
            ok["content"] = {"application/json": {"schema": ref(op.response)}}
        item["responses"]["200"] = ok
        for status in op.errors:
            item["responses"][str(status)] = {
                "description": "Error",
                "content": {"application/json": {"schema": error_ref}},
            }
        paths.setdefault(op.path, {})[op.method] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": "openclaw-mux", "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "adminToken": {"type": "http", "scheme": "bearer", "description": "MUX_ADMIN_TOKEN"},
                "tenantKey": {"type": "http", "scheme": "bearer", "description": "the tenantApiKey"},
                "runtimeJwt": {
                    "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "a runtime-JWT instance's runtime token, with X-OpenClaw-Id (CONTRACT §14)",
                },
                "registerKey": {"type": "http", "scheme": "bearer", "description": "MUX_REGISTER_KEY"},
            },
        },
    }
