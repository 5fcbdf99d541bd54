"""Scheduled care commands: a resident's "I'm fine" on a check-in, and a volunteer's visit log entry (走访记录).

Both go through the command path (`run_command`): published on grid.requests.v2, answered 202 after the ack;
dispatch decides whether they apply (a check-in only; the visit's holder only) and answers with status events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.intake.auth import Ctx, DistrictScope
from services.intake.routes.commands import RESPONSES, run_command
from services.intake.routes.shared_params import AccessToken, IdempotencyKey, RequestId
from services.intake.schemas import CommandAccepted
from shared.contracts import commands as c
from shared.text_hygiene import MultiLineText

router = APIRouter(tags=["care"])


def _route(path: str, summary: str, tag: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return router.post(
        f"/v1/districts/{{district_id}}/requests/{{request_id}}/{path}",
        status_code=202,
        response_model=CommandAccepted,
        responses=RESPONSES,
        summary=summary,
        tags=[tag, "care"],
    )


class ConfirmCheckInBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"note": "我很好"}]})

    note: MultiLineText = Field("", max_length=500, description="What the resident said, e.g. 我很好 (I'm fine)")
    reason: MultiLineText = Field("", max_length=500, description="How it was confirmed (the console's reason box)")


class NeedBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    menu_item_code: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    text: MultiLineText = Field("", max_length=2000)


class VisitOutcomeBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"outcome": "fine", "note": "血压 130/85，精神好"},
                {"outcome": "needs_something", "need": {"menu_item_code": "errand.groceries", "text": "米和油"}},
                {"outcome": "no_response", "note": "敲门无人应答"},
            ]
        },
    )

    outcome: Literal["fine", "needs_something", "no_response"]
    note: MultiLineText = Field("", max_length=2000)
    need: NeedBody | None = Field(None, description="Required when the outcome is needs_something: filed at once")

    @model_validator(mode="after")
    def _need_when_needed(self) -> VisitOutcomeBody:
        if (self.outcome == "needs_something") != (self.need is not None):
            raise ValueError("give a need exactly when the outcome is needs_something")
        return self


@_route("care/confirm-check-in", "Confirm a scheduled check-in: the resident is fine", "residents")
async def confirm_check_in(
    scope: DistrictScope,
    ctx: Ctx,
    request_id: RequestId,
    body: ConfirmCheckInBody,
    idempotency_key: IdempotencyKey = None,
    token: AccessToken = None,
) -> CommandAccepted:
    return await run_command(
        ctx,
        scope,
        request_id,
        c.CARE_CONFIRM_CHECK_IN,
        lambda a: c.ConfirmCheckInV1(actor=a, note=body.note or body.reason, reason=body.reason),
        idempotency_key,
        token,
    )


@_route("care/visit-outcome", "Record how a scheduled visit or call went (the visit log)", "volunteers")
async def record_visit_outcome(
    scope: DistrictScope,
    ctx: Ctx,
    request_id: RequestId,
    body: VisitOutcomeBody,
    idempotency_key: IdempotencyKey = None,
) -> CommandAccepted:
    need = c.CareNeedV1(**body.need.model_dump()) if body.need else None
    return await run_command(
        ctx,
        scope,
        request_id,
        c.CARE_RECORD_VISIT,
        lambda a: c.RecordVisitOutcomeV1(
            actor=a, volunteer_id=scope.principal.subject, outcome=body.outcome, note=body.note, need=need
        ),
        idempotency_key,
        None,
    )
