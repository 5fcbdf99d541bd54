"""Who is calling and what they may touch: API key → Principal → district scope, plus rate limits.

A district the key cannot see answers exactly like a district that does not exist (404), so a key
of district A learns nothing about district B.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request, Security
from fastapi.security import APIKeyHeader

from services.intake.context import IntakeContext
from services.intake.problems import Problem
from shared.api_keys import Principal, Role
from shared.contracts.envelope import DISTRICT_ID_PATTERN

STAFF = (Role.OPERATOR, Role.DISTRICT_ADMIN, Role.PLATFORM_ADMIN)
ADMINS = (Role.DISTRICT_ADMIN, Role.PLATFORM_ADMIN)
SUBMITTERS = (Role.CLIENT_APP, Role.OPERATOR, Role.DISTRICT_ADMIN, Role.PLATFORM_ADMIN)

DistrictId = Annotated[str, Path(pattern=DISTRICT_ID_PATTERN, description="District (tenant) id, e.g. chengzhong")]


def context_of(request: Request) -> IntakeContext:
    ctx: IntakeContext = request.app.state.intake
    return ctx


async def context(request: Request) -> IntakeContext:
    # async: FastAPI runs a plain `def` dependency in its thread pool, a thread hop on every call.
    return context_of(request)


Ctx = Annotated[IntakeContext, Depends(context)]


def unauthorized(detail: str) -> Problem:
    return Problem(
        401, "Unauthorized", detail, code="unauthorized", headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'}
    )


async def authenticate(request: Request, ctx: IntakeContext, plaintext: str | None) -> Principal:
    if not plaintext:
        raise unauthorized("an API key is required: send it in the X-API-Key header")
    principal = await ctx.reference.principal(plaintext)
    if principal is None:
        raise unauthorized("the API key is unknown or revoked")
    return principal


def presented_key(request: Request) -> str | None:
    """The key in `X-API-Key`, else the credentials of `Authorization: Bearer`."""
    key = request.headers.get("x-api-key")
    if key:
        return key
    scheme, _, credentials = (request.headers.get("authorization") or "").partition(" ")
    return (credentials.strip() or None) if scheme.lower() == "bearer" else None


class ApiKeyAuth(APIKeyHeader):
    """The caller's key, from either header, authenticated: ONE dependency rather than a key header, a bearer and
    the context. FastAPI inspects every dependency again on every call (tens of microseconds each), which was
    most of what a submission cost beyond a bare endpoint. Documented as the X-API-Key scheme; openapi_doc adds
    the bearer alternative."""

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        return await authenticate(request, context_of(request), presented_key(request))


API_KEY = ApiKeyAuth(
    name="X-API-Key",
    scheme_name="APIKeyHeader",
    auto_error=False,
    description="A key from `gridctl keys create`, e.g. gsp_<id>_<secret>",
)
Caller = Annotated[Principal, Security(API_KEY)]


def district_not_found(district_id: str) -> Problem:
    return Problem(404, "Not found", f"no district {district_id!r}", code="not-found")


@dataclass(frozen=True)
class Scope:
    """A caller inside one district: the only way routes reach district data."""

    principal: Principal
    district_id: str

    @property
    def role(self) -> Role:
        return self.principal.role

    def require(self, *roles: Role) -> None:
        if self.principal.role not in roles:
            allowed = ", ".join(role.value for role in roles)
            raise Problem(
                403,
                "Forbidden",
                f"this needs one of the roles {allowed}; the key is {self.role.value}",
                code="forbidden",
            )


async def visible_district(ctx: IntakeContext, principal: Principal, district_id: str) -> Scope:
    if not principal.can_see(district_id) or not await ctx.reference.district_exists(district_id):
        raise district_not_found(district_id)
    return Scope(principal, district_id)


async def scope(district_id: DistrictId, principal: Caller, request: Request) -> Scope:
    return await visible_district(context_of(request), principal, district_id)


DistrictScope = Annotated[Scope, Depends(scope)]


async def public_district(district_id: DistrictId, request: Request, ctx: Ctx) -> str:
    """Anonymous reads (the menu): only districts that exist (shared.rate_limit limits them per address)."""
    if not await ctx.reference.district_exists(district_id):
        raise district_not_found(district_id)
    return district_id


PublicDistrict = Annotated[str, Depends(public_district)]
