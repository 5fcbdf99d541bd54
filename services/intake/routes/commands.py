"""Commands after submission: each publishes one envelope on grid.requests.v2 and answers 202 after the ack.

The actor always comes from the API key. Dispatch decides whether a command is legal in the request's
state and answers with status events; intake refuses early only what it can know for sure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from services.intake import handlers
from services.intake.auth import Ctx, DistrictScope, Scope
from services.intake.context import IntakeContext
from services.intake.permissions import STAFF, check_command
from services.intake.problems import Problem
from services.intake.routes.requests import broker_down, request_not_found
from services.intake.routes.shared_params import AccessToken, IdempotencyKey, RequestId, problems
from services.intake.schemas import (
    CommandAccepted,
    NoteBody,
    PriorityBody,
    RateBody,
    ReasonBody,
    ReassignBody,
    WorkBody,
)
from shared.api_keys import Role
from shared.contracts import commands as c
from shared.contracts.commands import Actor
from shared.kafka import BrokerUnavailable
from shared.request_ids import issued_by_us, valid_access_token

router = APIRouter(tags=["commands"])
RESIDENT_JUDGEMENTS = frozenset({c.REQUEST_RATE, c.REQUEST_REPORT_NOT_DONE})
RESPONSES = problems(401, 403, 404, 409, 413, 422, 429, 503)


async def run_command(
    ctx: IntakeContext,
    scope: Scope,
    request_id: str,
    command_type: str,
    build: Callable[[Actor], BaseModel],
    idempotency_key: str | None,
    token: str | None,
) -> CommandAccepted:
    document = await ctx.repository.request(scope.district_id, request_id)
    if document is None and not issued_by_us(ctx.id_keys, scope.district_id, request_id):
        raise request_not_found(scope.district_id, request_id)
    token_ok = token is not None and valid_access_token(ctx.id_keys, request_id, token)
    refusal = check_command(
        command_type,
        role=scope.role,
        subject=scope.principal.subject,
        request=document,
        resident_token_ok=token_ok,
    )
    if refusal is not None:
        raise Problem(
            refusal.status, "Forbidden" if refusal.status == 403 else "Conflict", refusal.detail, code=refusal.code
        )
    if scope.role is Role.CLIENT_APP:
        phone = ((document or {}).get("resident") or {}).get("phone")
        actor = handlers.resident_actor(phone, scope.principal.key_id)
    elif command_type in RESIDENT_JUDGEMENTS and scope.role in STAFF:
        # A rating or "not done" is the resident's judgement, taken on the phone: the operator's key, on the
        # record as acting for the resident. (An operator's note or cancellation is the operator's own.)
        actor = handlers.on_behalf_of_resident(scope)
    else:
        actor = handlers.actor_of(scope)
    try:
        command_id = await handlers.publish_command(
            ctx,
            district_id=scope.district_id,
            request_id=request_id,
            command_type=command_type,
            payload=build(actor),
            idempotency_key=idempotency_key,
            api_key_id=scope.principal.key_id,
        )
    except BrokerUnavailable as exc:
        raise broker_down(exc) from exc
    return CommandAccepted(request_id=request_id, command_id=command_id, type=command_type)


def _volunteer(scope: Scope) -> str:
    return scope.principal.subject


def _route(
    path: str, summary: str, tag: str = "commands", name: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return router.post(
        f"/v1/districts/{{district_id}}/requests/{{request_id}}/{path}",
        status_code=202,
        response_model=CommandAccepted,
        responses=RESPONSES,
        summary=summary,
        tags=[tag],
        name=name,
    )


@_route("cancel", "Cancel a request (resident with its access token, or an operator)", "residents")
async def cancel(
    scope: DistrictScope,
    ctx: Ctx,
    request_id: RequestId,
    body: ReasonBody,
    idempotency_key: IdempotencyKey = None,
    token: AccessToken = None,
) -> CommandAccepted:
    return await run_command(
        ctx,
        scope,
        request_id,
        c.REQUEST_CANCEL,
        lambda a: c.CancelRequestV1(actor=a, reason=body.reason),
        idempotency_key,
        token,
    )


@_route("rating", "Rate a resolved request, 1–5 stars, once", "residents")
async def rate(
    scope: DistrictScope,
    ctx: Ctx,
    request_id: RequestId,
    body: RateBody,
    idempotency_key: IdempotencyKey = None,
    token: AccessToken = None,
) -> CommandAccepted:
    return await run_command(
        ctx,
        scope,
        request_id,
        c.REQUEST_RATE,
        lambda a: c.RateRequestV1(actor=a, stars=body.stars, comment=body.comment),
        idempotency_key,
        token,
    )


@_route("notes", "Add a note to a request", "residents")
async def add_note(
    scope: DistrictScope,
    ctx: Ctx,
    request_id: RequestId,
    body: NoteBody,
    idempotency_key: IdempotencyKey = None,
    token: AccessToken = None,
) -> CommandAccepted:
    return await run_command(
        ctx,
        scope,
        request_id,
        c.REQUEST_ADD_NOTE,
        lambda a: c.AddNoteV1(actor=a, text=body.text),
        idempotency_key,
        token,
    )


@_route("report-not-done", "Report that a resolved request was not actually done", "residents")
async def report_not_done(
    scope: DistrictScope,
    ctx: Ctx,
    request_id: RequestId,
    body: ReasonBody,
    idempotency_key: IdempotencyKey = None,
    token: AccessToken = None,
) -> CommandAccepted:
    return await run_command(
        ctx,
        scope,
        request_id,
        c.REQUEST_REPORT_NOT_DONE,
        lambda a: c.ReportNotDoneV1(actor=a, reason=body.reason),
        idempotency_key,
        token,
    )


def _offer(command: type[c.VolunteerCommand], path: str, summary: str) -> None:
    command_type = command.command_type

    @_route(path, summary, "volunteers", command_type.replace(".", "_"))
    async def answer_offer(
        scope: DistrictScope, ctx: Ctx, request_id: RequestId, body: ReasonBody, idempotency_key: IdempotencyKey = None
    ) -> CommandAccepted:
        return await run_command(
            ctx,
            scope,
            request_id,
            command_type,
            lambda a: command(actor=a, reason=body.reason, volunteer_id=_volunteer(scope)),
            idempotency_key,
            None,
        )


def _work(command: type[c.WorkReport], path: str, summary: str) -> None:
    command_type = command.command_type

    @_route(path, summary, "volunteers", command_type.replace(".", "_"))
    async def report_work(
        scope: DistrictScope, ctx: Ctx, request_id: RequestId, body: WorkBody, idempotency_key: IdempotencyKey = None
    ) -> CommandAccepted:
        return await run_command(
            ctx,
            scope,
            request_id,
            command_type,
            lambda a: command(actor=a, reason=body.reason, note=body.note, volunteer_id=_volunteer(scope)),
            idempotency_key,
            None,
        )


_offer(c.AcceptOfferV1, "offer/accept", "Accept an offer made to the calling volunteer")
_offer(c.DeclineOfferV1, "offer/decline", "Decline an offer made to the calling volunteer")
_work(c.StartWorkV1, "work/start", "The assigned volunteer starts the work")
_work(c.CompleteWorkV1, "work/complete", "The assigned volunteer completes the work, with a result note")
_work(c.CannotCompleteWorkV1, "work/cannot-complete", "The assigned volunteer cannot complete the work")


@_route("operator/reassign", "Reassign to a volunteer, or match again", "operators")
async def reassign(
    scope: DistrictScope, ctx: Ctx, request_id: RequestId, body: ReassignBody, idempotency_key: IdempotencyKey = None
) -> CommandAccepted:
    if body.volunteer_id is not None and await ctx.reference.volunteer(scope.district_id, body.volunteer_id) is None:
        raise handlers.invalid("volunteer_id", f"no volunteer {body.volunteer_id!r} in this district")
    return await run_command(
        ctx,
        scope,
        request_id,
        c.OPERATOR_REASSIGN,
        lambda a: c.ReassignV1(actor=a, reason=body.reason, volunteer_id=body.volunteer_id),
        idempotency_key,
        None,
    )


@_route("operator/escalate", "Escalate to the next level", "operators")
async def escalate(
    scope: DistrictScope, ctx: Ctx, request_id: RequestId, body: ReasonBody, idempotency_key: IdempotencyKey = None
) -> CommandAccepted:
    return await run_command(
        ctx,
        scope,
        request_id,
        c.OPERATOR_ESCALATE,
        lambda a: c.EscalateV1(actor=a, reason=body.reason),
        idempotency_key,
        None,
    )


@_route("operator/close", "Close a request", "operators")
async def close(
    scope: DistrictScope, ctx: Ctx, request_id: RequestId, body: ReasonBody, idempotency_key: IdempotencyKey = None
) -> CommandAccepted:
    return await run_command(
        ctx,
        scope,
        request_id,
        c.OPERATOR_CLOSE,
        lambda a: c.CloseV1(actor=a, reason=body.reason),
        idempotency_key,
        None,
    )


@_route("operator/priority", "Change a request's priority", "operators")
async def change_priority(
    scope: DistrictScope, ctx: Ctx, request_id: RequestId, body: PriorityBody, idempotency_key: IdempotencyKey = None
) -> CommandAccepted:
    return await run_command(
        ctx,
        scope,
        request_id,
        c.OPERATOR_CHANGE_PRIORITY,
        lambda a: c.ChangePriorityV1(actor=a, reason=body.reason, priority=body.priority),
        idempotency_key,
        None,
    )
