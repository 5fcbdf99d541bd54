"""The OpenAPI document says every error a route can answer, in the shape it really has.

Some errors apply to every route (rate limit, body size, auth), so they are added here once rather
than repeated on each route; Open311 routes document the spec's error list instead of problem+json.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from services.intake.problems import PROBLEM_JSON
from shared.problem_details import PROBLEM_SCHEMA

OPEN311_ERRORS: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
    },
}
TEXTS = {
    400: "Invalid parameters",
    401: "Missing, unknown or revoked API key",
    403: "The key may not do this",
    404: "Not found (or another district's)",
    413: "Body too large",
    422: "Invalid input, with the fields named",
    429: "Rate limit exceeded; see Retry-After",
    503: "Kafka unavailable; see Retry-After",
}


def _problem(status: int) -> dict[str, Any]:
    return {"description": TEXTS[status], "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}


def _open311_error(status: int) -> dict[str, Any]:
    return {
        "description": TEXTS[status],
        "content": {"application/json": {"schema": OPEN311_ERRORS}, "text/xml": {"schema": {"type": "string"}}},
    }


# The key may also come as a bearer token (services/intake/auth.py reads both in one dependency).
BEARER_SCHEME = {"type": "http", "description": "The same API key as a bearer token", "scheme": "bearer"}


def complete(document: dict[str, Any]) -> dict[str, Any]:
    schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
    if schemes:
        schemes["HTTPBearer"] = BEARER_SCHEME
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if operation.get("security") == [{"APIKeyHeader": []}]:
                operation["security"].append({"HTTPBearer": []})
            responses: dict[str, Any] = operation.setdefault("responses", {})
            writes = method in ("post", "put", "delete")
            if path.startswith("/open311/"):
                responses.pop("422", None)
                statuses = [400, 403, 404, 429] + ([413, 503] if writes else [])
                for status in statuses:
                    responses[str(status)] = _open311_error(status)
                continue
            statuses = [404, 422, 429]
            if operation.get("security"):
                statuses += [401, 403]
            if writes:
                statuses += [413]
            if method == "post" and "202" in responses:
                statuses += [503]
            for status in statuses:
                responses[str(status)] = _problem(status)
    return document


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                    tags=app.openapi_tags,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
