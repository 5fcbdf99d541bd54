"""`/volunteer/` (the page and its assets) and `/volunteer/api/` (its JSON), plus the staff's record export.

Every `/volunteer/api/` route but sign-in needs the session cookie; the session's volunteer is the only
principal, so a volunteer reads and acts only on tasks that the request document confirms are theirs
(`views.kind_for`), and anything else answers 404 exactly like a request that does not exist. Actions
reuse intake's command path (`routes.commands.run_command`): the same checks, idempotency and 202.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Cookie, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from services.intake import reference_service as reference
from services.intake.auth import Ctx, DistrictScope, Scope
from services.intake.context import IntakeContext
from services.intake.problems import Problem
from services.intake.reference_models import LeavePeriod, VolunteerFields
from services.intake.roster import Roster
from services.intake.routes.care import VisitOutcomeBody
from services.intake.routes.commands import run_command
from services.intake.routes.shared_params import IdempotencyKey, RequestId, problems
from services.intake.schemas import CommandAccepted, PhoneNumber
from services.intake.volunteer import codes, record, views
from services.intake.volunteer.sign_in import Session, SignIn, SignInRefused
from services.intake.volunteer.store import VolunteerPageStore
from shared import volunteer_stream_tokens
from shared.api_keys import Principal, Role
from shared.contracts import commands as c
from shared.kafka import BrokerUnavailable
from shared.mongo import Document
from shared.text_hygiene import MultiLineText

# Every route answers problem details; the session (a cookie) stands where other routes take an API key.
router = APIRouter(tags=["volunteer page"], responses=problems(401, 403, 404, 409, 413, 422, 429, 503))
CSV: dict[int | str, dict[str, Any]] = {
    200: {"description": "CSV, UTF-8 with BOM", "content": {"text/csv": {"schema": {"type": "string"}}}}
}
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "manifest.webmanifest": "application/manifest+json",
    "sw.js": "text/javascript; charset=utf-8",
    "icon.svg": "image/svg+xml",
}


@dataclass
class VolunteerPage:
    sign_in: SignIn
    store: VolunteerPageStore
    cookie_secure: bool
    stream_minutes: int
    notify_ws_url: str


def page_of(request: Request) -> VolunteerPage:
    page: VolunteerPage = request.app.state.volunteer_page
    return page


Page = Annotated[VolunteerPage, Depends(page_of)]
SessionCookie = Annotated[str | None, Cookie(alias=codes.SESSION_COOKIE, include_in_schema=False)]


def refused(exc: SignInRefused) -> Problem:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    titles = {401: "Unauthorized", 429: "Too many requests", 503: "Unavailable"}
    return Problem(exc.status, titles.get(exc.status, "Refused"), exc.detail, code=exc.code, headers=headers)


async def signed_in(page: Page, token: SessionCookie = None) -> Session:
    """The session's volunteer, still on the roster: one taken off it (deleted or inactive) is signed out."""
    session = await page.sign_in.session(token)
    if session is None:
        raise Problem(401, "Unauthorized", "sign in with your phone number first", code="unauthorized")
    volunteer = await page.store.volunteer(session.volunteer_id)
    if volunteer is None or volunteer.get("district_id") != session.district_id or not volunteer.get("active", True):
        await page.sign_in.sign_out(token)
        raise Problem(401, "Unauthorized", "this volunteer is no longer on the roster", code="unauthorized")
    return session


Me = Annotated[Session, Depends(signed_in)]


def scope_of(session: Session) -> Scope:
    """The session as intake's principal: role volunteer, the volunteer's id as subject."""
    principal = Principal(
        key_id=f"vs-{session.session_id[:16]}",
        district_id=session.district_id,
        role=Role.VOLUNTEER,
        subject=session.volunteer_id,
    )
    return Scope(principal, session.district_id)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# -- the page --------------------------------------------------------------------------------------


def _asset(name: str) -> bytes:
    return resources.files("services.intake.volunteer").joinpath("static", name).read_bytes()


def _csp(notify_ws_url: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src 'self' {notify_ws_url}",
            "manifest-src 'self'",
            "worker-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


@router.get("/volunteer", include_in_schema=False)
async def index_without_slash() -> RedirectResponse:
    return RedirectResponse("/volunteer/", status_code=308)


@router.get("/volunteer/", include_in_schema=False)
async def index(page: Page) -> Response:
    return Response(
        _asset("index.html"),
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": _csp(page.notify_ws_url),
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-cache",
        },
    )


@router.get("/volunteer/{name}", include_in_schema=False)
async def asset(name: str) -> Response:
    if name not in ASSETS:
        raise Problem(404, "Not found", f"no file {name!r}", code="not-found")
    headers = {"Cache-Control": "no-cache"}
    if name == "sw.js":
        headers["Service-Worker-Allowed"] = "/volunteer/"
    return Response(_asset(name), media_type=ASSETS[name], headers=headers)


# -- sign-in ---------------------------------------------------------------------------------------


class CodeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: PhoneNumber
    language: Literal["zh", "en"] = "zh"


class SignInBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: PhoneNumber
    code: str = Field(pattern=r"^\d{6}$")


@router.post("/volunteer/api/sign-in/code", status_code=202, summary="Send a one-time sign-in code by SMS")
async def send_code(body: CodeBody, request: Request, page: Page) -> dict[str, Any]:
    try:
        await page.sign_in.send_code(body.phone, _client(request), body.language)
    except SignInRefused as exc:
        raise refused(exc) from exc
    # The same answer whether or not the phone is a volunteer's: the roster is not for guessing.
    return {"sent": True, "expires_in_seconds": page.sign_in.settings.code_minutes * 60}


@router.post("/volunteer/api/sign-in", summary="Sign in with the code: sets the session cookie")
async def sign_in(body: SignInBody, request: Request, response: Response, page: Page) -> dict[str, Any]:
    try:
        signed = await page.sign_in.check_code(body.phone, body.code, _client(request))
    except SignInRefused as exc:
        raise refused(exc) from exc
    session = signed.session
    response.set_cookie(
        codes.SESSION_COOKIE,
        signed.token,
        max_age=int((session.expires_at - datetime.now(UTC)).total_seconds()),
        path="/volunteer/",
        secure=page.cookie_secure,
        httponly=True,
        samesite="strict",
    )
    volunteer = await page.store.volunteer(session.volunteer_id)
    return views.volunteer_view(volunteer or {"_id": session.volunteer_id})


@router.post("/volunteer/api/sign-out", status_code=204, summary="End this session")
async def sign_out(response: Response, page: Page, token: SessionCookie = None) -> Response:
    await page.sign_in.sign_out(token)
    response = Response(status_code=204)
    response.delete_cookie(
        codes.SESSION_COOKIE, path="/volunteer/", secure=page.cookie_secure, httponly=True, samesite="strict"
    )
    return response


@router.get("/volunteer/api/me", summary="The signed-in volunteer")
async def me(session: Me, page: Page) -> dict[str, Any]:
    volunteer = await page.store.volunteer(session.volunteer_id)
    if volunteer is None:
        raise Problem(401, "Unauthorized", "this volunteer is no longer on the roster", code="unauthorized")
    return views.volunteer_view(volunteer)


# -- tasks -----------------------------------------------------------------------------------------


async def _task(
    ctx: IntakeContext, page: VolunteerPage, session: Session, request_id: str, entry: Document | None = None
) -> Document | None:
    """The task view if the request document confirms it is the session's volunteer's; else None."""
    document = await ctx.repository.request(session.district_id, request_id)
    if document is None:
        return None
    kind = views.kind_for(document, session.volunteer_id)
    if kind is None:
        return None
    resident_id = document.get("resident_id") or (document.get("resident") or {}).get("id")
    resident = await page.store.resident(resident_id) if resident_id else None
    if resident is not None and resident.get("district_id") != session.district_id:
        resident = None
    community = document.get("community_id") or ""
    item = await ctx.reference.menu_item(session.district_id, community, document.get("menu_item_code") or "")
    return views.task_view(document, kind, entry=entry, resident=resident, item=item)


def not_found(request_id: str) -> Problem:
    return Problem(404, "Not found", f"no task {request_id!r} of yours", code="not-found")


@router.get("/volunteer/api/tasks", summary="My open offers and assignments")
async def tasks(session: Me, ctx: Ctx, page: Page) -> dict[str, Any]:
    listed = await page.store.tasks(session.volunteer_id) or {}
    shown: dict[str, list[Document]] = {"offers": [], "assignments": []}
    for field in ("offers", "assignments"):
        for entry in listed.get(field) or []:
            view = await _task(ctx, page, session, entry["request_id"], entry)
            if view is not None:
                shown["offers" if view["kind"] == "offer" else "assignments"].append(view)
    return {**shown, "server_time": datetime.now(UTC).isoformat()}


@router.get("/volunteer/api/tasks/{request_id}", summary="One of my tasks")
async def task(request_id: RequestId, session: Me, ctx: Ctx, page: Page) -> Document:
    listed = await page.store.tasks(session.volunteer_id) or {}
    entry = next(
        (e for f in ("offers", "assignments") for e in listed.get(f) or [] if e["request_id"] == request_id), None
    )
    view = await _task(ctx, page, session, request_id, entry)
    if view is None:
        raise not_found(request_id)
    return view


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: MultiLineText = Field("", max_length=1000)


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: MultiLineText = Field(min_length=1, max_length=2000)


ACTIONS: dict[str, type[c.VolunteerCommand]] = {
    "accept": c.AcceptOfferV1,
    "decline": c.DeclineOfferV1,
    "start": c.StartWorkV1,
    "resolve": c.CompleteWorkV1,
    "give-back": c.CannotCompleteWorkV1,
}


async def _act(
    ctx: IntakeContext,
    page: VolunteerPage,
    session: Session,
    request_id: str,
    command_type: str,
    build: Any,
    idempotency_key: str | None,
) -> CommandAccepted:
    if await _task(ctx, page, session, request_id) is None:
        raise not_found(request_id)
    return await run_command(ctx, scope_of(session), request_id, command_type, build, idempotency_key, None)


@router.post(
    "/volunteer/api/tasks/{request_id}/notes",
    status_code=202,
    response_model=CommandAccepted,
    summary="Add a note to my task",
)
async def note(
    request_id: RequestId, body: NoteBody, session: Me, ctx: Ctx, page: Page, idempotency_key: IdempotencyKey = None
) -> CommandAccepted:
    return await _act(
        ctx,
        page,
        session,
        request_id,
        c.REQUEST_ADD_NOTE,
        lambda a: c.AddNoteV1(actor=a, text=body.text),
        idempotency_key,
    )


@router.post(
    "/volunteer/api/tasks/{request_id}/visit-outcome",
    status_code=202,
    response_model=CommandAccepted,
    summary="Record how my scheduled visit or call went (the visit log, docs/care.md)",
)
async def visit_outcome(
    request_id: str,
    body: VisitOutcomeBody,
    session: Me,
    ctx: Ctx,
    page: Page,
    idempotency_key: IdempotencyKey = None,
) -> CommandAccepted:
    need = c.CareNeedV1(**body.need.model_dump()) if body.need else None
    return await _act(
        ctx,
        page,
        session,
        request_id,
        c.CARE_RECORD_VISIT,
        lambda a: c.RecordVisitOutcomeV1(
            actor=a, volunteer_id=session.volunteer_id, outcome=body.outcome, note=body.note, need=need
        ),
        idempotency_key,
    )


@router.post(
    "/volunteer/api/tasks/{request_id}/{action}",
    status_code=202,
    response_model=CommandAccepted,
    summary="Accept, decline, start, resolve or give back my task",
)
async def act(
    request_id: RequestId,
    action: str,
    body: ReasonBody,
    session: Me,
    ctx: Ctx,
    page: Page,
    idempotency_key: IdempotencyKey = None,
) -> CommandAccepted:
    command = ACTIONS.get(action)
    if command is None:
        raise Problem(404, "Not found", f"no action {action!r}", code="not-found")
    if command is c.DeclineOfferV1 and not body.reason.strip():
        raise Problem(
            422,
            "Invalid request",
            "reason: say why you decline",
            code="validation",
            errors=[{"field": "reason", "location": "body", "message": "required", "type": "missing"}],
        )

    def build(actor: c.Actor) -> c.VolunteerCommand:
        if issubclass(command, c.WorkReport):
            return command(actor=actor, reason=body.reason, note=body.reason, volunteer_id=session.volunteer_id)
        return command(actor=actor, reason=body.reason, volunteer_id=session.volunteer_id)

    return await _act(ctx, page, session, request_id, command.command_type, build, idempotency_key)


# -- availability ----------------------------------------------------------------------------------


class AvailabilityBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on_duty: bool
    leave: list[LeavePeriod] = Field(default_factory=list, max_length=20)


@router.put("/volunteer/api/availability", summary="Go on or off duty; set my leave dates")
async def availability(body: AvailabilityBody, session: Me, ctx: Ctx, page: Page) -> dict[str, Any]:
    """Written by the reference-data admin's own path (reference_service.write_one), which announces the
    change on the district's key: dispatch stops or starts offering within a second."""
    stored = await page.store.volunteer(session.volunteer_id)
    if stored is None:
        raise Problem(401, "Unauthorized", "this volunteer is no longer on the roster", code="unauthorized")
    profile = {k: stored[k] for k in VolunteerFields.model_fields if stored.get(k) is not None}
    profile.update(on_duty=body.on_duty, leave=[p.model_dump(mode="json") for p in body.leave])
    fields = VolunteerFields.model_validate(profile)
    roster = Roster(ctx.publisher, ctx.topics.requests, source="intake")
    try:
        written = await reference.write_one(
            ctx.repository,
            kind="volunteers",
            district_id=session.district_id,
            row=reference.Row(fields, document_id=session.volunteer_id),
            roster=roster,
        )
    except BrokerUnavailable as exc:
        raise Problem(
            503,
            "Unavailable",
            "saved, but dispatch could not be told yet; try again",
            code="broker-unavailable",
            headers={"Retry-After": "5"},
        ) from exc
    return views.volunteer_view(written.document)


# -- live notifications ----------------------------------------------------------------------------


@router.get("/volunteer/api/stream", summary="A short-lived token for notify's volunteer stream")
async def stream(session: Me, ctx: Ctx, page: Page) -> dict[str, Any]:
    expires_at = datetime.now(UTC) + timedelta(minutes=page.stream_minutes)
    token = volunteer_stream_tokens.mint(
        ctx.id_key, district_id=session.district_id, volunteer_id=session.volunteer_id, expires_at=expires_at
    )
    return {
        "ws_url": f"{page.notify_ws_url}/v1/volunteers/me/ws",
        "protocols": ["grid.v1", f"grid.volunteer-token.{token}"],
        "expires_at": expires_at.isoformat(),
    }


# -- record of service -----------------------------------------------------------------------------

RequiredMonth = Annotated[str, Query(pattern=record.MONTH_PATTERN, description="YYYY-MM")]
Month = Annotated[str | None, Query(pattern=record.MONTH_PATTERN, description="YYYY-MM; this month by default")]


def _month(ctx: IntakeContext, month: str | None, tz_name: str | None) -> str:
    if month:
        return month
    try:
        tz = ZoneInfo(tz_name or "Asia/Shanghai")
    except (ValueError, KeyError):
        tz = ZoneInfo("Asia/Shanghai")
    return datetime.now(tz).strftime("%Y-%m")


async def _district_tz(ctx: IntakeContext, district_id: str) -> str | None:
    district = await ctx.reference.district(district_id) or {}
    return district.get("timezone")


@router.get("/volunteer/api/record", summary="My record of service for a month")
async def my_record(session: Me, ctx: Ctx, page: Page, month: Month = None) -> dict[str, Any]:
    chosen = _month(ctx, month, await _district_tz(ctx, session.district_id))
    document = await page.store.service_record(record.volunteer_record_id(session.volunteer_id, chosen))
    done = record.entries(document)
    views_of_done = []
    for entry in done:
        community, code = str(entry.get("community_id") or ""), str(entry.get("menu_item_code") or "")
        item = await ctx.reference.menu_item(session.district_id, community, code)  # cached reference data
        views_of_done.append(record.entry_view(entry, item))
    return {"month": chosen, "totals": record.totals(done), "tasks": views_of_done}


@router.get(
    "/volunteer/api/record.csv",
    summary="My record of service for a month, as CSV",
    response_class=Response,
    responses=CSV,
)
async def my_record_csv(session: Me, ctx: Ctx, page: Page, month: Month = None) -> Response:
    chosen = _month(ctx, month, await _district_tz(ctx, session.district_id))
    document = await page.store.service_record(record.volunteer_record_id(session.volunteer_id, chosen))
    volunteer = await page.store.volunteer(session.volunteer_id) or {}
    text = record.csv_text(chosen, record.entries(document), {session.volunteer_id: volunteer})
    return _csv(text, f"service-{session.volunteer_id}-{chosen}.csv")


class HoursBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    minutes: int = Field(ge=1, le=24 * 60)
    reason: MultiLineText = Field(min_length=1, max_length=1000)


@router.post(
    "/volunteer/api/record/{request_id}/hours",
    status_code=202,
    response_model=CommandAccepted,
    summary="Correct the minutes of my resolved task (within limits, audited)",
)
async def edit_hours(
    request_id: RequestId, body: HoursBody, session: Me, ctx: Ctx, idempotency_key: IdempotencyKey = None
) -> CommandAccepted:
    document = await ctx.repository.request(session.district_id, request_id)
    if document is None or document.get("assigned_volunteer_id") != session.volunteer_id:
        raise not_found(request_id)
    build = lambda a: c.EditServiceHoursV1(  # noqa: E731
        actor=a, reason=body.reason, minutes=body.minutes, volunteer_id=session.volunteer_id
    )
    return await run_command(ctx, scope_of(session), request_id, c.WORK_EDIT_HOURS, build, idempotency_key, None)


def _csv(text: str, filename: str) -> Response:
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# -- the staff's view: per grid (team) or community, summed ------------------------------------------


async def _area_entries(
    ctx: IntakeContext, page: VolunteerPage, scope: Scope, month: str, grid_id: str | None, community_id: str | None
) -> tuple[list[Document], list[str]]:
    if grid_id:
        if await ctx.reference.grid(scope.district_id, grid_id) is None:
            raise Problem(404, "Not found", f"no grid {grid_id!r}", code="not-found")
        grids = [grid_id]
    elif community_id:
        found = await ctx.repository.references(
            "grids", scope.district_id, after=None, limit=1000, community_id=community_id
        )
        if not found:
            raise Problem(404, "Not found", f"no community {community_id!r} with grids", code="not-found")
        grids = [g["_id"] for g in found]
    else:
        raise Problem(
            422,
            "Invalid request",
            "give grid_id or community_id",
            code="validation",
            errors=[{"field": "grid_id", "location": "query", "message": "required", "type": "missing"}],
        )
    done: list[Document] = []
    for grid in grids:
        done += record.entries(await page.store.service_record(record.grid_record_id(scope.district_id, grid, month)))
    return done, grids


@router.get(
    "/v1/districts/{district_id}/service-records",
    tags=["operators"],
    summary="Record of service of a grid (team) or community for a month, per volunteer and summed",
)
async def area_record(
    scope: DistrictScope,
    ctx: Ctx,
    page: Page,
    month: RequiredMonth,
    grid_id: str | None = None,
    community_id: str | None = None,
) -> dict[str, Any]:
    scope.require(Role.OPERATOR, Role.DISTRICT_ADMIN, Role.PLATFORM_ADMIN)
    done, grids = await _area_entries(ctx, page, scope, month, grid_id, community_id)
    per_volunteer = {v: record.totals(e) for v, e in sorted(record.by_volunteer(done).items())}
    return {"month": month, "grids": grids, "totals": record.totals(done), "volunteers": per_volunteer}


@router.get(
    "/v1/districts/{district_id}/service-records.csv",
    response_class=Response,
    responses=CSV,
    tags=["operators"],
    summary="The party-branch report: a month's record per volunteer as CSV",
)
async def area_record_csv(
    scope: DistrictScope,
    ctx: Ctx,
    page: Page,
    month: RequiredMonth,
    grid_id: str | None = None,
    community_id: str | None = None,
) -> Response:
    scope.require(Role.OPERATOR, Role.DISTRICT_ADMIN, Role.PLATFORM_ADMIN)
    done, _ = await _area_entries(ctx, page, scope, month, grid_id, community_id)
    volunteers: dict[str, Document] = {}
    for volunteer_id in record.by_volunteer(done):
        found = await ctx.repository.reference("volunteers", scope.district_id, volunteer_id)
        volunteers[volunteer_id] = found or {}
    area = grid_id or community_id or "area"
    return _csv(record.csv_text(month, done, volunteers), f"service-{scope.district_id}-{area}-{month}.csv")
