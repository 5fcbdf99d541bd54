"""Open311 GeoReport v2 endpoints (`.json` and `.xml`); jurisdiction_id is the district id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query, Request, Response
from pydantic import BaseModel, ValidationError

from services.intake import handlers
from services.intake.auth import SUBMITTERS, Ctx, Scope, authenticate, visible_district
from services.intake.open311 import mapping
from services.intake.open311.formats import render
from services.intake.problems import Problem
from services.intake.routes.requests import broker_down
from services.intake.schemas import SubmitRequestBody
from shared.api_keys import Role
from shared.contracts.envelope import DISTRICT_ID_PATTERN
from shared.kafka import BrokerUnavailable
from shared.request_ids import issued_by_us
from shared.time_bounds import BoundedDatetime

router = APIRouter(prefix="/open311/v2", tags=["Open311 GeoReport v2"])
Format = Annotated[Literal["json", "xml"], Path(description="json or xml")]
Jurisdiction = Annotated[str, Query(pattern=DISTRICT_ID_PATTERN, description="The district id, e.g. chengzhong")]
ApiKeyParam = Annotated[str | None, Query(max_length=200, description="API key (or the X-API-Key header)")]
DATE_FILTER_LIMIT = 1000
DEFAULT_WINDOW = timedelta(days=90)  # the spec's default when no dates are given


class Service(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


class AttributeValue(BaseModel):
    key: str
    name: str


class ServiceAttribute(BaseModel):
    variable: bool
    code: str
    datatype: str
    required: bool
    datatype_description: str
    order: int
    description: str
    values: list[AttributeValue]


class ServiceDefinition(BaseModel):
    service_code: str
    attributes: list[ServiceAttribute]


class ServiceRequest(BaseModel):
    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None = None
    service_name: str | None = None
    service_code: str | None = None
    description: str | None = None
    agency_responsible: str | None = None
    service_notice: str | None = None
    requested_datetime: str | None = None
    updated_datetime: str | None = None
    expected_datetime: str | None = None
    address: str | None = None
    address_id: str | None = None
    zipcode: str | None = None
    lat: float | None = None
    long: float | None = None
    media_url: str | None = None


class Created(BaseModel):
    service_request_id: str
    token: str
    service_notice: str
    account_id: str | None = None


class TokenAnswer(BaseModel):
    service_request_id: str
    token: str


def _responses(model: Any, success: int = 200) -> dict[int | str, dict[str, Any]]:
    """The JSON model plus its XML twin; the error statuses are added by openapi_doc for every Open311 route."""
    return {success: {"model": model, "content": {"text/xml": {"schema": {"type": "string"}}}}}


def english(request: Request) -> bool:
    return request.headers.get("accept-language", "").lower().startswith("en")


def jurisdiction_not_found(jurisdiction_id: str) -> Problem:
    return Problem(404, "Not found", f"jurisdiction_id {jurisdiction_id!r} not found", code="not-found")


async def _public(request: Request, ctx: Ctx, jurisdiction_id: str) -> None:
    if not await ctx.reference.district_exists(jurisdiction_id):
        raise jurisdiction_not_found(jurisdiction_id)


async def _scope(request: Request, ctx: Ctx, jurisdiction_id: str, api_key: str | None) -> Scope:
    principal = await authenticate(request, ctx, api_key or request.headers.get("x-api-key"))
    try:
        return await visible_district(ctx, principal, jurisdiction_id)
    except Problem as exc:
        raise jurisdiction_not_found(jurisdiction_id) from exc


@router.get(
    "/services.{fmt}",
    response_model=list[Service],
    responses=_responses(list[Service]),
    summary="Services (menu items) of a jurisdiction",
)
async def list_services(request: Request, ctx: Ctx, fmt: Format, jurisdiction_id: Jurisdiction) -> Response:
    await _public(request, ctx, jurisdiction_id)
    items = await ctx.repository.menu(jurisdiction_id)
    return render(fmt, "services", mapping.services(items, english(request)))


@router.get(
    "/services/{service_code}.{fmt}",
    response_model=ServiceDefinition,
    responses=_responses(ServiceDefinition),
    summary="Service definition: the questions (attributes) of a menu item",
)
async def service_definition(
    request: Request,
    ctx: Ctx,
    service_code: Annotated[str, Path(max_length=64)],
    fmt: Format,
    jurisdiction_id: Jurisdiction,
) -> Response:
    await _public(request, ctx, jurisdiction_id)
    items = await ctx.repository.menu_items_by_code(jurisdiction_id, service_code)
    if not items:
        raise Problem(404, "Not found", f"service_code {service_code!r} not found", code="not-found")
    communities = {item["community_id"] for item in items}
    grids = [
        grid
        for grid in await ctx.repository.references("grids", jurisdiction_id, after=None, limit=5000)
        if grid.get("community_id") in communities
    ]
    return render(fmt, "definition", mapping.definition(items[0], grids, english(request)))


@router.post(
    "/requests.{fmt}",
    status_code=201,
    response_model=list[Created],
    responses=_responses(list[Created], 201),
    summary="Submit a service request (form-encoded; attribute[code]=value for the questions)",
)
async def create_request(
    request: Request,
    ctx: Ctx,
    fmt: Format,
    api_key: Annotated[str, Form(max_length=200)],
    jurisdiction_id: Annotated[str, Form(pattern=DISTRICT_ID_PATTERN)],
    service_code: Annotated[str, Form(min_length=1, max_length=64)],
    phone: Annotated[str | None, Form(max_length=32, description="The resident's phone (required here)")] = None,
    address_id: Annotated[str | None, Form(max_length=64, description="The grid id")] = None,
    description: Annotated[str | None, Form(max_length=2000)] = None,
    first_name: Annotated[str | None, Form(max_length=50)] = None,
    last_name: Annotated[str | None, Form(max_length=50)] = None,
    lat: Annotated[float | None, Form(ge=-90, le=90)] = None,
    long: Annotated[float | None, Form(ge=-180, le=180)] = None,
    address_string: Annotated[str | None, Form(max_length=500)] = None,
    email: Annotated[str | None, Form(max_length=200)] = None,
    device_id: Annotated[str | None, Form(max_length=200)] = None,
    account_id: Annotated[str | None, Form(max_length=200)] = None,
    media_url: Annotated[str | None, Form(max_length=1000)] = None,
) -> Response:
    scope = await _scope(request, ctx, jurisdiction_id, api_key)
    if scope.role not in SUBMITTERS:
        raise Problem(403, "Forbidden", "this API key may not submit requests", code="forbidden")
    form = await request.form()
    attributes = {
        key[len("attribute[") : -1]: form.getlist(key) if len(form.getlist(key)) > 1 else value
        for key, value in form.items()
        if key.startswith("attribute[") and key.endswith("]")
    }
    grid_id = address_id or attributes.pop(mapping.GRID_ATTRIBUTE, None)
    attributes.pop(mapping.GRID_ATTRIBUTE, None)
    if not phone:
        raise handlers.invalid("phone", "the resident's phone is required")
    if not grid_id or not isinstance(grid_id, str):
        raise handlers.invalid("address_id", "give the grid as address_id or attribute[grid_id]")
    name = " ".join(part for part in (last_name, first_name) if part) or None
    try:
        body = SubmitRequestBody(
            menu_item_code=service_code,
            grid_id=grid_id,
            resident_name=name,
            resident_phone=phone,
            text=description or "",
            attributes=attributes,
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        raise handlers.invalid(field, error["msg"], "value_error") from exc
    try:
        # The spec makes names optional, so Open311 clients may leave them out.
        request_id = await handlers.submit_request(
            ctx, scope=scope, body=body, idempotency_key=None, name_optional=True
        )
    except BrokerUnavailable as exc:
        raise broker_down(exc) from exc
    answer = [{"service_request_id": request_id, "token": request_id, "service_notice": "", "account_id": account_id}]
    return render(fmt, "requests", answer, 201)


@router.get(
    "/requests.{fmt}",
    response_model=list[ServiceRequest],
    responses=_responses(list[ServiceRequest]),
    summary="Service requests of a jurisdiction (needs an API key of that district)",
)
async def list_requests(
    request: Request,
    ctx: Ctx,
    fmt: Format,
    jurisdiction_id: Jurisdiction,
    api_key: ApiKeyParam = None,
    service_request_id: Annotated[str | None, Query(max_length=2000, description="Comma-separated ids")] = None,
    service_code: Annotated[str | None, Query(max_length=1000, description="Comma-separated codes")] = None,
    start_date: Annotated[BoundedDatetime | None, Query()] = None,
    end_date: Annotated[BoundedDatetime | None, Query()] = None,
    status: Annotated[str | None, Query(pattern=r"^(open|closed)(,(open|closed))?$")] = None,
) -> Response:
    scope = await _scope(request, ctx, jurisdiction_id, api_key)
    if scope.role is Role.VOLUNTEER:
        raise Problem(403, "Forbidden", "volunteer keys read their own offers through the native API", code="forbidden")
    wanted = set((status or "open,closed").split(","))
    english_names = english(request)
    if service_request_id:
        ids = [i for i in service_request_id.split(",") if i][:200]
        documents = await ctx.repository.requests_by_ids(scope.district_id, ids)
    else:
        end = _aware(end_date) or datetime.now(UTC)
        start = _aware(start_date) or end - DEFAULT_WINDOW  # bounded times leave room for the window
        documents = await ctx.repository.requests_between(
            scope.district_id,
            start=start,
            end=end,
            menu_item_codes=[c for c in service_code.split(",") if c] if service_code else None,
            statuses=mapping.statuses_of(wanted),
            limit=DATE_FILTER_LIMIT,
        )
    items = {i["code"]: i for i in await ctx.repository.menu(scope.district_id, active_only=False)}
    records = [mapping.service_request(d, items.get(d.get("menu_item_code", "")), english_names) for d in documents]
    return render(fmt, "requests", [r for r in records if r["status"] in wanted])


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@router.get(
    "/requests/{service_request_id}.{fmt}",
    response_model=list[ServiceRequest],
    responses=_responses(list[ServiceRequest]),
    summary="One service request",
)
async def read_request(
    request: Request,
    ctx: Ctx,
    service_request_id: Annotated[str, Path(max_length=100)],
    fmt: Format,
    jurisdiction_id: Jurisdiction,
    api_key: ApiKeyParam = None,
) -> Response:
    scope = await _scope(request, ctx, jurisdiction_id, api_key)
    document = await ctx.repository.request(scope.district_id, service_request_id)
    if document is None:
        if issued_by_us(ctx.id_keys, scope.district_id, service_request_id):
            return render(fmt, "requests", [mapping.pending_request(service_request_id, datetime.now(UTC))])
        raise Problem(404, "Not found", f"service_request_id {service_request_id!r} not found", code="not-found")
    if scope.role is Role.VOLUNTEER:
        raise Problem(404, "Not found", f"service_request_id {service_request_id!r} not found", code="not-found")
    items = await ctx.repository.menu_items_by_code(scope.district_id, str(document.get("menu_item_code", "")))
    return render(fmt, "requests", [mapping.service_request(document, items[0] if items else None, english(request))])


@router.get(
    "/tokens/{token}.{fmt}",
    response_model=list[TokenAnswer],
    responses=_responses(list[TokenAnswer]),
    summary="The service_request_id for a token returned by a submission",
)
async def read_token(
    request: Request,
    ctx: Ctx,
    token: Annotated[str, Path(max_length=100)],
    fmt: Format,
    jurisdiction_id: Jurisdiction,
    api_key: ApiKeyParam = None,
) -> Response:
    scope = await _scope(request, ctx, jurisdiction_id, api_key)
    if not issued_by_us(ctx.id_keys, scope.district_id, token):
        raise Problem(404, "Not found", f"token {token!r} not found", code="not-found")
    return render(fmt, "requests", [{"service_request_id": token, "token": token}])
