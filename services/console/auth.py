"""Who may use the console, as FastAPI dependencies: an operator's key, scoped to one district."""

# No `from __future__ import annotations` here: FastAPI must resolve the dependency aliases eagerly.

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Query, Request

from services.console.context import ConsoleContext
from shared.api_keys import Principal, Role
from shared.problem_details import Problem

CONSOLE_ROLES = {Role.OPERATOR, Role.DISTRICT_ADMIN, Role.PLATFORM_ADMIN}


def problem(status: int, detail: str, code: str) -> Problem:
    return Problem(status, detail, detail, code=code)


@dataclass(frozen=True)
class Operator:
    principal: Principal
    district_id: str
    key: str  # the plaintext key, forwarded to intake so that intake authorises the operator's own writes


def console_context(request: Request) -> ConsoleContext:
    context: ConsoleContext = request.app.state.console
    return context


Ctx = Annotated[ConsoleContext, Depends(console_context)]


async def operator(
    ctx: Ctx,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
    district: Annotated[str | None, Query(max_length=64, description="platform_admin only")] = None,
) -> Operator:
    plaintext = x_api_key or (authorization or "").removeprefix("Bearer ").strip()
    principal = await ctx.keys.authenticate(plaintext) if plaintext else None
    if principal is None:
        raise problem(401, "an operator API key is required", "unauthenticated")
    if principal.role not in CONSOLE_ROLES:
        raise problem(403, f"role {principal.role.value} cannot use the console", "forbidden")
    district_id = principal.district_id or district
    if district_id is None:
        raise problem(422, "platform_admin keys must choose a district", "district-required")
    return Operator(principal, district_id, plaintext)


Caller = Annotated[Operator, Depends(operator)]
