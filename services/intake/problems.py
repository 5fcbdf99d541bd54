"""Errors as RFC 9457 problem details, so clients can read them by machine.

Open311 paths answer in the spec's own error shape instead (`[{code, description}]`, JSON or XML),
because an off-the-shelf Open311 client must understand them unchanged.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from services.intake.open311.formats import error_response
from shared.problem_details import (
    PROBLEM_JSON,
    Problem,
    field_errors,
    install_problem_handlers,
    problem_response,
    validation_problem,
)
from shared.rate_limit import problem_429

OPEN311_PREFIX = "/open311/"

__all__ = ["PROBLEM_JSON", "Problem", "install", "problem_response"]


def _open311(request: Request) -> bool:
    return request.url.path.startswith(OPEN311_PREFIX)


def _open311_status(status: int) -> int:
    # The spec's clients know 400 for bad input and 403 for a bad api_key; 422 and 401 are ours.
    return {422: 400, 401: 403}.get(status, status)


def render_limit(status: int, detail: str, retry_after: int, scope: Scope) -> Response:
    """The rate limiter's 429, in the Open311 error shape under /open311/."""
    path = str(scope.get("path", ""))
    if path.startswith(OPEN311_PREFIX):
        return error_response(path, status, detail, {"Retry-After": str(retry_after)})
    return problem_429(status, detail, retry_after, scope)


def install(app: FastAPI) -> None:
    """The shared problem handlers, with Open311 paths answering in the spec's own error shape."""
    install_problem_handlers(app)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        if _open311(request):
            return error_response(request.url.path, _open311_status(exc.status), exc.detail, exc.headers)
        return problem_response(
            exc.status, exc.title, exc.detail, code=exc.code, errors=exc.errors, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if _open311(request):
            fields = ", ".join(sorted({e["field"] or e["location"] for e in field_errors(exc)}))
            return error_response(request.url.path, 400, f"check these parameters: {fields}")
        return validation_problem(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if _open311(request):
            return error_response(request.url.path, exc.status_code, str(exc.detail), exc.headers)
        return problem_response(
            exc.status_code, str(exc.detail), str(exc.detail), code=f"http-{exc.status_code}", headers=exc.headers
        )
