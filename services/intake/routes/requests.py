"""Submit a request and read requests: detail, operator search, a volunteer's own, a resident's own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from services.intake import handlers, views
from services.intake.auth import STAFF, SUBMITTERS, Ctx, DistrictScope, context_of
from services.intake.context import IntakeContext
from services.intake.pagination import InvalidCursor, after_cursor, encode_cursor
from services.intake.permissions import assigned_to, offered_to
from services.intake.problems import Problem
from services.intake.routes.shared_params import AccessToken, IdempotencyKey, RequestId, problems
from services.intake.schemas import (
    HouseholdView,
    RequestPage,
    RequestSummary,
    RequestView,
    SubmitAccepted,
    SubmitRequestBody,
)
from shared.api_keys import Role
from shared.kafka import BrokerUnavailable
from shared.mongo import Document
from shared.phone_numbers import InvalidPhoneNumber, normalise
from shared.request_ids import access_token, issued_by_us, valid_access_token
from shared.time_bounds import BoundedDatetime

router = APIRouter(tags=["requests"])
Status = Literal[
    "submitted",
    "matching",
    "offered",
    "assigned",
    "in_progress",
    "resolved",
    "rated",
    "escalated",
    "cancelled",
    "rejected",
    "expired",
    "unassigned",
]
Level = Literal["grid", "community", "street", "district"]


def broker_down(exc: BrokerUnavailable) -> Problem:
    return Problem(
        503,
        "Service unavailable",
        f"the request was not accepted, try again: {exc}",
        code="broker-unavailable",
        headers={"Retry-After": "5"},
    )


def request_not_found(district_id: str, request_id: str) -> Problem:
    return Problem(404, "Not found", f"no request {request_id!r} in district {district_id!r}", code="not-found")


@router.post(
    "/v1/districts/{district_id}/requests",
    status_code=202,
    response_model=SubmitAccepted,
    responses=problems(401, 403, 404, 413, 422, 429, 503),
    summary="Submit a request from the community menu",
    description="Client apps submit for a resident; operators may submit on a resident's behalf with only a "
    "phone number. The answer comes after Kafka acknowledged the request; keep `access_token` for the resident.",
)
async def submit(
    scope: DistrictScope, request: Request, body: SubmitRequestBody, idempotency_key: IdempotencyKey = None
) -> SubmitAccepted:
    scope.require(*SUBMITTERS)
    # The context from the request rather than a `Ctx` dependency: each dependency costs this FastAPI tens of
    # microseconds per call, and this is the route that takes the load (bench/intake).
    ctx = context_of(request)
    try:
        request_id = await handlers.submit_request(ctx, scope=scope, body=body, idempotency_key=idempotency_key)
    except BrokerUnavailable as exc:
        raise broker_down(exc) from exc
    token = access_token(ctx.id_key, request_id)
    return SubmitAccepted(
        request_id=request_id,
        status_url=f"{ctx.public_url}/v1/districts/{scope.district_id}/requests/{request_id}",
        # The resident's stream is authorised by the request's token, so the URL works as given.
        events_url=f"{ctx.notify_public_url}/v1/districts/{scope.district_id}/requests/{request_id}/events"
        f"?access_token={token}",
        access_token=token,
    )


@router.get(
    "/v1/districts/{district_id}/requests/{request_id}",
    response_model=RequestView,
    response_model_exclude_none=True,
    responses=problems(401, 404, 429),
    summary="A request's detail with its full timeline",
)
async def read(scope: DistrictScope, ctx: Ctx, request_id: RequestId) -> RequestView:
    document = await ctx.repository.request(scope.district_id, request_id)
    if document is None:
        if issued_by_us(ctx.id_keys, scope.district_id, request_id) and scope.role is not Role.VOLUNTEER:
            # Accepted by Kafka, not yet processed by dispatch.
            return RequestView(request_id=request_id, district_id=scope.district_id, status="submitted")
        raise request_not_found(scope.district_id, request_id)
    subject = scope.principal.subject
    if scope.role is Role.VOLUNTEER and not (offered_to(document, subject) or assigned_to(document, subject)):
        raise request_not_found(scope.district_id, request_id)
    with_resident = scope.role in STAFF or (assigned_to(document, subject) and scope.role is Role.VOLUNTEER)
    audience: views.Audience | None = None
    if scope.role in STAFF:
        audience = "staff"
    elif scope.role is Role.VOLUNTEER:
        audience = "assigned" if assigned_to(document, subject) else "offered"
    return views.detail(document, with_resident=with_resident, household_view=await _household(ctx, document, audience))


async def _household(ctx: IntakeContext, document: Document, audience: views.Audience | None) -> HouseholdView | None:
    """The household the request is for, read by `_id`, as `audience` may see it."""
    resident_id = views.resident_id_of(document)
    if audience is None or resident_id is None:
        return None
    resident = await ctx.repository.resident(document["district_id"], resident_id)
    return None if resident is None else views.household(resident, audience)


@router.get(
    "/v1/districts/{district_id}/requests",
    response_model=RequestPage,
    responses=problems(401, 403, 404, 422, 429),
    summary="Operator search, newest first, with cursor pagination",
)
async def search(
    scope: DistrictScope,
    ctx: Ctx,
    status: Annotated[list[Status] | None, Query(description="Any of these statuses")] = None,
    level: Level | None = None,
    grid_id: Annotated[str | None, Query(max_length=64)] = None,
    community_id: Annotated[str | None, Query(max_length=64)] = None,
    menu_item_code: Annotated[str | None, Query(max_length=64)] = None,
    overdue: Annotated[bool | None, Query(description="true: the running SLA clock has passed its deadline")] = None,
    submitted_from: Annotated[BoundedDatetime | None, Query(description="Inclusive, ISO 8601 with offset")] = None,
    submitted_to: Annotated[BoundedDatetime | None, Query(description="Exclusive, ISO 8601 with offset")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> RequestPage:
    scope.require(*STAFF)
    conditions: list[Document] = []
    for name, value in (("level", level), ("grid_id", grid_id), ("community_id", community_id)):
        if value is not None:
            conditions.append({name: value})
    if menu_item_code is not None:
        conditions.append({"menu_item_code": menu_item_code})
    if status:
        conditions.append({"status": {"$in": list(status)}})
    now = datetime.now(UTC)
    if overdue is True:
        conditions.append({"sla_due_at": {"$lt": now}})
    elif overdue is False:
        conditions.append({"$or": [{"sla_due_at": None}, {"sla_due_at": {"$gte": now}}]})
    for bound, operator in ((submitted_from, "$gte"), (submitted_to, "$lt")):
        if bound is not None:
            if bound.tzinfo is None:
                bound = bound.replace(tzinfo=UTC)
            conditions.append({"submitted_at": {operator: bound}})
    if cursor is not None:
        try:
            conditions.append(after_cursor(cursor))
        except InvalidCursor as exc:
            raise handlers.invalid("cursor", str(exc), "value_error", "query") from exc
    documents = await ctx.repository.search_requests(scope.district_id, conditions, limit + 1)
    page = documents[:limit]
    last = page[-1] if page else None
    more = len(documents) > limit and last is not None and isinstance(last.get("submitted_at"), datetime)
    return RequestPage(
        items=[views.summary(d) for d in page],
        next_cursor=encode_cursor(last["submitted_at"], last["_id"]) if more and last is not None else None,
    )


@router.get(
    "/v1/districts/{district_id}/volunteers/me/offers",
    response_model=list[RequestSummary],
    responses=problems(401, 403, 404, 429),
    tags=["volunteers"],
    summary="Open offers made to the calling volunteer",
)
async def my_offers(scope: DistrictScope, ctx: Ctx) -> list[RequestSummary]:
    scope.require(Role.VOLUNTEER)
    documents = await ctx.repository.search_requests(
        scope.district_id, [{"offered_volunteer_ids": scope.principal.subject}, {"status": "offered"}], 200
    )
    return [views.summary(d) for d in documents]


@router.get(
    "/v1/districts/{district_id}/volunteers/me/assignments",
    response_model=list[RequestSummary],
    responses=problems(401, 403, 404, 429),
    tags=["volunteers"],
    summary="Requests assigned to the calling volunteer and not yet finished",
)
async def my_assignments(scope: DistrictScope, ctx: Ctx) -> list[RequestSummary]:
    scope.require(Role.VOLUNTEER)
    documents = await ctx.repository.search_requests(
        scope.district_id,
        [{"assigned_volunteer_id": scope.principal.subject}, {"status": {"$in": ["assigned", "in_progress"]}}],
        200,
    )
    return [views.summary(d) for d in documents]


@router.get(
    "/v1/districts/{district_id}/residents/requests",
    response_model=list[RequestView],
    response_model_exclude_none=True,
    responses=problems(401, 403, 404, 422, 429),
    tags=["residents"],
    summary="A resident's own requests, proven by the access token of any one of them",
)
async def resident_requests(
    scope: DistrictScope,
    ctx: Ctx,
    phone: Annotated[str, Query(min_length=3, max_length=32, description="The resident's phone, any format")],
    token: AccessToken = None,
    access_token_query: Annotated[str | None, Query(alias="access_token", min_length=1, max_length=64)] = None,
) -> list[RequestView]:
    scope.require(Role.CLIENT_APP, *STAFF)
    presented = token or access_token_query
    if not presented:
        raise handlers.invalid("access_token", "Field required", "missing", "query")
    try:
        e164 = normalise(phone)
    except InvalidPhoneNumber as exc:
        raise handlers.invalid("phone", str(exc), "value_error", "query") from exc
    documents = await ctx.repository.requests_of_phone(scope.district_id, e164)
    if not any(valid_access_token(ctx.id_keys, d["_id"], presented) for d in documents):
        # Same answer for "no such phone" and "wrong token": neither reveals that the phone is known.
        raise Problem(404, "Not found", "no requests for this phone and access token", code="not-found")
    return [views.detail(d, with_resident=True) for d in documents]
