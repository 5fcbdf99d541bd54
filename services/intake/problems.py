"""Errors as RFC 9457 problem details, so clients can read them by machine.

Open311 paths answer in the spec's own error shape instead (`[{code, description}]`, JSON or XML),
because an off-the-shelf Open311 client must understand them unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.intake.open311.formats import error_response

PROBLEM_JSON = "application/problem+json"
OPEN311_PREFIX = "/open311/"
log = logging.getLogger(__name__)


class Problem(Exception):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        code: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.code = status, title, detail, code
        self.errors = errors or []
        self.headers = headers


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    code: str,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://gridservice.example/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {}))


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(part) for part in error["loc"][1:] if part != "body")
            if len(error["loc"]) > 1
            else str(error["loc"][0] if error["loc"] else "body"),
            "location": str(error["loc"][0]) if error["loc"] else "body",
            "message": error["msg"],
            "type": error["type"],
        }
        for error in exc.errors()
    ]


def _open311(request: Request) -> bool:
    return request.url.path.startswith(OPEN311_PREFIX)


def _open311_status(status: int) -> int:
    # The spec's clients know 400 for bad input and 403 for a bad api_key; 422 and 401 are ours.
    return {422: 400, 401: 403}.get(status, status)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        if _open311(request):
            return error_response(request.url.path, _open311_status(exc.status), exc.detail, exc.headers)
        return problem_response(
            exc.status, exc.title, exc.detail, code=exc.code, errors=exc.errors, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = _field_errors(exc)
        fields = ", ".join(sorted({e["field"] or e["location"] for e in errors}))
        if _open311(request):
            return error_response(request.url.path, 400, f"check these parameters: {fields}")
        return problem_response(
            422, "Invalid request", f"check these fields: {fields}", code="validation", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if _open311(request):
            return error_response(request.url.path, exc.status_code, str(exc.detail), exc.headers)
        return problem_response(
            exc.status_code, str(exc.detail), str(exc.detail), code=f"http-{exc.status_code}", headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, "Internal error", "something went wrong on our side", code="internal")
