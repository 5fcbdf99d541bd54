"""Reference data: admin endpoints per kind, districts, and the public menu and directory (no key needed)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel

from services.intake import reference_models as m
from services.intake import reference_service as service
from services.intake.auth import ADMINS, STAFF, Caller, Ctx, DistrictId, DistrictScope, PublicDistrict, Scope
from services.intake.context import IntakeContext
from services.intake.problems import Problem
from services.intake.reference_service import (
    KINDS,
    IdOfAnotherDistrict,
    Kind,
    MenuItemView,
    ReferenceProblem,
    ReferenceView,
    Row,
    menu_view,
    view,
)
from services.intake.roster import Roster
from services.intake.routes.shared_params import problems
from shared.api_keys import Role
from shared.kafka import BrokerUnavailable

router = APIRouter()
DocumentId = Annotated[str, Path(pattern=m.ID_PATTERN, description="The document's id")]
MenuCode = Annotated[str, Path(pattern=m.CODE_PATTERN, description="Menu item code, e.g. errand.medicine")]


class DirectoryEntry(BaseModel):
    id: str
    name_zh: str | None = None
    name_en: str | None = None
    street_office_id: str | None = None
    community_id: str | None = None


class Directory(BaseModel):
    district: DirectoryEntry
    street_offices: list[DirectoryEntry]
    communities: list[DirectoryEntry]
    grids: list[DirectoryEntry]


def rejected(problem: ReferenceProblem) -> Problem:
    """409 for an id that another district holds; 422 for a body naming what does not exist."""
    if isinstance(problem, IdOfAnotherDistrict):
        status, title, code, location, kind = 409, "Id already used", "id-of-another-district", "path", "conflict"
    else:
        status, title, code, location, kind = 422, "Invalid reference data", "validation", "body", "reference"
    error = {"field": problem.field, "location": location, "message": problem.message, "type": kind}
    return Problem(status, title, str(problem), code=code, errors=[error])


def not_announced(exc: BrokerUnavailable) -> Problem:
    # The write is done and idempotent: repeating the same call writes nothing new and announces it.
    return Problem(
        503,
        "Service unavailable",
        f"the change was saved but dispatch was not told of it; repeat the same request: {exc}",
        code="broker-unavailable",
        headers={"Retry-After": "5"},
    )


def roster(ctx: IntakeContext) -> Roster:
    return Roster(ctx.publisher, ctx.topics.requests, source="intake")


def admin_problems(*statuses: int) -> dict[int | str, dict[str, object]]:
    documented = problems(*statuses)
    if 409 in documented:
        documented[409] = {**documented[409], "description": "The id is already used by another district"}
    return documented


def not_found(what: str, identifier: str) -> Problem:
    return Problem(404, "Not found", f"no {what} {identifier!r}", code="not-found")


@router.put(
    "/v1/districts/{district_id}",
    response_model=ReferenceView,
    responses=problems(401, 403, 422, 429),
    tags=["reference data"],
    summary="Create or update a district (platform admins)",
)
async def put_district(
    district_id: DistrictId, body: m.DistrictFields, principal: Caller, ctx: Ctx, response: Response
) -> ReferenceView:
    Scope(principal, district_id).require(Role.PLATFORM_ADMIN)
    created = await ctx.repository.upsert_district(district_id, body.model_dump(mode="json"))
    response.status_code = 201 if created else 200
    return ReferenceView(id=district_id, district_id=district_id, **body.model_dump(mode="json"))


@router.get(
    "/v1/districts/{district_id}/directory",
    response_model=Directory,
    responses=problems(404, 429),
    tags=["public menu"],
    summary="The district's street offices, communities and grids, for choosing where a resident lives",
)
async def directory(district_id: PublicDistrict, ctx: Ctx) -> Directory:
    district = await ctx.reference.district(district_id) or {"_id": district_id}

    async def entries(collection: str) -> list[DirectoryEntry]:
        documents = await ctx.repository.references(collection, district_id, after=None, limit=5000)
        return [DirectoryEntry.model_validate({**d, "id": d["_id"]}, strict=False) for d in documents]

    return Directory(
        district=DirectoryEntry(id=district_id, name_zh=district.get("name_zh"), name_en=district.get("name_en")),
        street_offices=await entries("street_offices"),
        communities=await entries("communities"),
        grids=await entries("grids"),
    )


@router.get(
    "/v1/districts/{district_id}/communities/{community_id}/menu",
    response_model=list[MenuItemView],
    responses=problems(404, 429),
    tags=["public menu"],
    summary="A community's public menu (公开菜单): what residents may ask for, and the questions to answer",
)
async def community_menu(district_id: PublicDistrict, community_id: DocumentId, ctx: Ctx) -> list[MenuItemView]:
    if await ctx.repository.reference("communities", district_id, community_id) is None:
        raise not_found("community", community_id)
    return [menu_view(d) for d in await ctx.repository.menu(district_id, community_id)]


@router.get(
    "/v1/districts/{district_id}/grids/{grid_id}/menu",
    response_model=list[MenuItemView],
    responses=problems(404, 429),
    tags=["public menu"],
    summary="The menu offered to residents of a grid (its community's menu)",
)
async def grid_menu(district_id: PublicDistrict, grid_id: DocumentId, ctx: Ctx) -> list[MenuItemView]:
    grid = await ctx.reference.grid(district_id, grid_id)
    if grid is None:
        raise not_found("grid", grid_id)
    return [menu_view(d) for d in await ctx.repository.menu(district_id, grid["community_id"])]


@router.put(
    "/v1/districts/{district_id}/communities/{community_id}/menu/{code}",
    response_model=MenuItemView,
    responses=admin_problems(401, 403, 404, 409, 422, 429),
    tags=["reference data"],
    summary="Create or update an item of a community's menu",
)
async def put_menu_item(
    scope: DistrictScope,
    ctx: Ctx,
    community_id: DocumentId,
    code: MenuCode,
    body: m.MenuItemFields,
    response: Response,
) -> MenuItemView:
    scope.require(*ADMINS)
    try:
        written = await service.write_one(
            ctx.repository,
            kind=service.MENU,
            district_id=scope.district_id,
            row=Row(body, community_id=community_id, code=code),
            roster=None,  # menus are not part of the roster
        )
    except ReferenceProblem as problem:
        raise rejected(problem) from problem
    response.status_code = 201 if written.created else 200
    return menu_view(written.document)


@router.delete(
    "/v1/districts/{district_id}/communities/{community_id}/menu/{code}",
    status_code=204,
    responses=problems(401, 403, 404, 429),
    tags=["reference data"],
    summary="Remove an item from a community's menu",
)
async def delete_menu_item(scope: DistrictScope, ctx: Ctx, community_id: DocumentId, code: MenuCode) -> Response:
    scope.require(*ADMINS)
    if not await ctx.repository.delete_reference("menu_items", scope.district_id, f"{community_id}:{code}"):
        raise not_found("menu item", code)
    return Response(status_code=204)


def _register(kind: Kind) -> None:
    singular = kind.name.rstrip("s").replace("-", " ")
    read_roles = STAFF if kind.personal else (*STAFF, Role.CLIENT_APP, Role.VOLUNTEER)

    # Volunteers are announced when written, and when their grid or its community moves; care plans when written.
    announces = kind.name in ("volunteers", "grids", "communities", "care-plans")
    write_statuses = (401, 403, 404, 409, 422, 429, 503) if announces else (401, 403, 404, 409, 422, 429)

    async def put(
        scope: DistrictScope, ctx: Ctx, document_id: DocumentId, body: BaseModel, response: Response
    ) -> ReferenceView:
        scope.require(*ADMINS)
        try:
            written = await service.write_one(
                ctx.repository,
                kind=kind.name,
                district_id=scope.district_id,
                row=Row(body, document_id=document_id),
                roster=roster(ctx),
            )
        except ReferenceProblem as problem:
            raise rejected(problem) from problem
        except BrokerUnavailable as exc:
            raise not_announced(exc) from exc
        response.status_code = 201 if written.created else 200
        return view(written.document)

    # The body's model differs per kind: set it before FastAPI reads the signature.
    put.__annotations__["body"] = kind.fields
    router.put(
        f"/v1/districts/{{district_id}}/{kind.name}/{{document_id}}",
        response_model=ReferenceView,
        responses=admin_problems(*write_statuses),
        tags=["reference data"],
        summary=f"Create or update a {singular}",
        name=f"put_{kind.collection}",
    )(put)

    @router.get(
        f"/v1/districts/{{district_id}}/{kind.name}",
        response_model=list[ReferenceView],
        responses=problems(401, 403, 404, 422, 429),
        tags=["reference data"],
        summary=f"List {kind.name.replace('-', ' ')}, by id",
        name=f"list_{kind.collection}",
    )
    async def list_all(
        scope: DistrictScope,
        ctx: Ctx,
        after: Annotated[str | None, Query(max_length=64, description="Return ids after this one")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        grid_id: Annotated[str | None, Query(max_length=64)] = None,
    ) -> list[ReferenceView]:
        scope.require(*read_roles)
        filters = {"grid_id": grid_id} if grid_id is not None and kind.name != "street-offices" else {}
        documents = await ctx.repository.references(
            kind.collection, scope.district_id, after=after, limit=limit, **filters
        )
        return [view(d) for d in documents]

    @router.get(
        f"/v1/districts/{{district_id}}/{kind.name}/{{document_id}}",
        response_model=ReferenceView,
        responses=problems(401, 403, 404, 429),
        tags=["reference data"],
        summary=f"Read a {singular}",
        name=f"get_{kind.collection}",
    )
    async def get_one(scope: DistrictScope, ctx: Ctx, document_id: DocumentId) -> ReferenceView:
        scope.require(*read_roles)
        document = await ctx.repository.reference(kind.collection, scope.district_id, document_id)
        if document is None:
            raise not_found(singular, document_id)
        return view(document)

    @router.delete(
        f"/v1/districts/{{district_id}}/{kind.name}/{{document_id}}",
        status_code=204,
        responses=problems(401, 403, 404, 429, 503) if announces else problems(401, 403, 404, 429),
        tags=["reference data"],
        summary=f"Delete a {singular}",
        name=f"delete_{kind.collection}",
    )
    async def delete(scope: DistrictScope, ctx: Ctx, document_id: DocumentId) -> Response:
        scope.require(*ADMINS)
        try:
            deleted = await service.delete(
                ctx.repository,
                kind=kind.name,
                district_id=scope.district_id,
                document_id=document_id,
                roster=roster(ctx),
            )
        except BrokerUnavailable as exc:
            raise not_announced(exc) from exc
        if not deleted:
            raise not_found(singular, document_id)
        return Response(status_code=204)


for _kind in KINDS.values():
    _register(_kind)
