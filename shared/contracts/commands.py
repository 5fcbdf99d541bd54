"""Commands on grid.requests.v1 after submission: what residents, volunteers and operators ask dispatch to do.

Commands are imperative (`request.cancel`); dispatch answers each with status events on
grid.status.v1, including `request.command_rejected` with the reason when a command is not legal now.
Every command names its actor; intake fills it from the caller's API key, never from the body.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.envelope import register_payload

ActorRole = Literal["resident", "client_app", "operator", "volunteer", "district_admin", "platform_admin", "system"]


class Actor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: ActorRole
    subject: str = Field(min_length=1, max_length=200, description="volunteer id, key id, or masked phone")

    def label(self) -> str:
        return f"{self.role}:{self.subject}"


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    actor: Actor
    reason: str = Field("", max_length=1000)


class CancelRequestV1(_Command):
    pass


class RateRequestV1(_Command):
    stars: int = Field(ge=1, le=5)
    comment: str = Field("", max_length=1000)


class AddNoteV1(_Command):
    text: str = Field(min_length=1, max_length=2000)


class ReportNotDoneV1(_Command):
    pass


class OfferResponseV1(_Command):
    volunteer_id: str = Field(min_length=1, max_length=64)


class WorkUpdateV1(_Command):
    volunteer_id: str = Field(min_length=1, max_length=64)
    note: str = Field("", max_length=2000)


class ReassignV1(_Command):
    volunteer_id: str | None = Field(None, max_length=64, description="Target volunteer; none means match again")


class EscalateV1(_Command):
    pass


class CloseV1(_Command):
    pass


class ChangePriorityV1(_Command):
    priority: Literal["low", "normal", "high", "critical"]


REQUEST_CANCEL = "request.cancel"
REQUEST_RATE = "request.rate"
REQUEST_ADD_NOTE = "request.add_note"
REQUEST_REPORT_NOT_DONE = "request.report_not_done"
OFFER_ACCEPT = "offer.accept"
OFFER_DECLINE = "offer.decline"
WORK_START = "work.start"
WORK_COMPLETE = "work.complete"
WORK_CANNOT_COMPLETE = "work.cannot_complete"
OPERATOR_REASSIGN = "operator.reassign"
OPERATOR_ESCALATE = "operator.escalate"
OPERATOR_CLOSE = "operator.close"
OPERATOR_CHANGE_PRIORITY = "operator.change_priority"

COMMAND_PAYLOADS: dict[str, type[_Command]] = {
    REQUEST_CANCEL: CancelRequestV1,
    REQUEST_RATE: RateRequestV1,
    REQUEST_ADD_NOTE: AddNoteV1,
    REQUEST_REPORT_NOT_DONE: ReportNotDoneV1,
    OFFER_ACCEPT: OfferResponseV1,
    OFFER_DECLINE: OfferResponseV1,
    WORK_START: WorkUpdateV1,
    WORK_COMPLETE: WorkUpdateV1,
    WORK_CANNOT_COMPLETE: WorkUpdateV1,
    OPERATOR_REASSIGN: ReassignV1,
    OPERATOR_ESCALATE: EscalateV1,
    OPERATOR_CLOSE: CloseV1,
    OPERATOR_CHANGE_PRIORITY: ChangePriorityV1,
}

for _command_type, _model in COMMAND_PAYLOADS.items():
    register_payload(_command_type, 1, _model)
