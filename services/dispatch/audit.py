"""Fairness and audit over HTTP: load spread per grid or community, and every decision of a request.

Callers authenticate with an API key (`Authorization: Bearer gsp_…` or `X-API-Key`) of role operator
or district_admin (or platform_admin); every query is filtered by the district in the path, which
the key must cover. A key of another district sees 404, as if nothing were there.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query
from pydantic import BaseModel, ConfigDict

from services.dispatch.audit_reads import AuditReads
from services.dispatch.domain.fairness import Window, spread
from shared.api_keys import ApiKeyRepository, Principal, Role
from shared.time_bounds import BoundedAwareDatetime

AUDIT_ROLES = frozenset({Role.OPERATOR, Role.DISTRICT_ADMIN, Role.PLATFORM_ADMIN})


@dataclass(frozen=True)
class AuditContext:
    reads: AuditReads
    keys: ApiKeyRepository


class VolunteerLoad(BaseModel):
    model_config = ConfigDict(frozen=True)
    volunteer_id: str
    assignments: int


class SpreadView(BaseModel):
    model_config = ConfigDict(frozen=True)
    volunteers: int
    assignments: int
    fewest: int
    most: int
    max_min_ratio: float | None
    gini: float


class FairnessView(BaseModel):
    model_config = ConfigDict(frozen=True)
    district_id: str
    scope: str
    area_id: str
    start: datetime
    end: datetime
    per_volunteer: list[VolunteerLoad]
    spread: SpreadView


class DecisionView(BaseModel):
    model_config = ConfigDict(frozen=True)
    at: datetime
    kind: str
    level: str
    actor: str
    reason: str
    chosen_volunteer_id: str | None = None
    previous_volunteer_id: str | None = None
    offered: list[str] = []
    candidates: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    to_level: str | None = None


class DecisionsView(BaseModel):
    model_config = ConfigDict(frozen=True)
    request_id: str
    district_id: str
    status: str
    level: str
    decisions: list[DecisionView]


def staff_principal(keys: ApiKeyRepository) -> Callable[..., Awaitable[Principal]]:
    """The dependency every route of dispatch's API takes: an operator's or district admin's API key."""

    async def principal(
        authorization: Annotated[str | None, Header()] = None,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> Principal:
        key = x_api_key or (authorization or "").removeprefix("Bearer ").strip()
        found = await keys.authenticate(key) if key else None
        if found is None:
            raise HTTPException(401, "a valid API key is required", headers={"WWW-Authenticate": "Bearer"})
        if found.role not in AUDIT_ROLES:
            raise HTTPException(403, "operators and district admins only")
        return found

    return principal


def in_district(caller: Principal, district_id: str) -> None:
    """A key of another district sees 404, as if nothing were there."""
    if not caller.can_see(district_id):
        raise HTTPException(404, "not found")


def add_audit_routes(app: FastAPI, ctx: AuditContext) -> None:
    principal = staff_principal(ctx.keys)

    @app.get("/v1/districts/{district_id}/fairness", response_model=FairnessView)
    async def fairness(
        district_id: str,
        caller: Annotated[Principal, Depends(principal)],
        grid_id: str | None = None,
        community_id: str | None = None,
        start: Annotated[BoundedAwareDatetime | None, Query()] = None,
        end: Annotated[BoundedAwareDatetime | None, Query()] = None,
    ) -> FairnessView:
        """Assignments per volunteer of one grid or community in [start, end), with max/min and Gini."""
        in_district(caller, district_id)
        if (grid_id is None) == (community_id is None):
            raise HTTPException(422, "give exactly one of grid_id or community_id")
        field, area = ("grid_id", grid_id) if grid_id else ("community_id", community_id)
        assert area is not None
        end = end or datetime.now(UTC)
        start = start or end - timedelta(days=30)
        window = Window(start, end) if end > start else None
        if window is None:
            raise HTTPException(422, "end must be after start")
        counts = await ctx.reads.assignments(
            district_id=district_id, area_field=field, area_id=area, start=start, end=end
        )
        roster = await ctx.reads.roster(district_id, field, area)
        per_volunteer = {volunteer_id: 0 for volunteer_id in roster} | counts
        figures = spread(per_volunteer)
        return FairnessView(
            district_id=district_id,
            scope=field.removesuffix("_id"),
            area_id=area,
            start=window.start,
            end=window.end,
            per_volunteer=[VolunteerLoad(volunteer_id=v, assignments=n) for v, n in sorted(per_volunteer.items())],
            spread=SpreadView(**figures.__dict__),
        )

    @app.get("/v1/districts/{district_id}/requests/{request_id}/decisions", response_model=DecisionsView)
    async def decisions(
        district_id: str, request_id: str, caller: Annotated[Principal, Depends(principal)]
    ) -> DecisionsView:
        """Every decision about a request: candidates considered, who was chosen and why, and overrides."""
        in_district(caller, district_id)
        document = await ctx.reads.request(district_id, request_id)
        if document is None:
            raise HTTPException(404, "not found")
        return DecisionsView(
            request_id=request_id,
            district_id=district_id,
            status=document["status"],
            level=document.get("level", "grid"),
            decisions=[DecisionView.model_validate(d) for d in document.get("decisions", [])],
        )
