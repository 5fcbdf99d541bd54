"""Commands on grid.requests.v2 after submission: what residents, volunteers and operators ask dispatch to do.

Commands are imperative (`request.cancel`); dispatch answers each with status events on
grid.status.v2, including `request.command_rejected` with the reason when a command is not legal now.
Every command names its actor; intake fills it from the caller's API key, never from the body.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contracts.envelope import register_payload

ActorRole = Literal["resident", "client_app", "operator", "volunteer", "district_admin", "platform_admin", "system"]


class Actor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: ActorRole
    subject: str = Field(min_length=1, max_length=200, description="volunteer id, key id, or masked phone")

    def label(self) -> str:
        return f"{self.role}:{self.subject}"


class Command(BaseModel):
    """A command after submission; each subclass is one command and names its event type once."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    command_type: ClassVar[str]

    actor: Actor
    reason: str = Field("", max_length=1000)


class VolunteerCommand(Command):
    volunteer_id: str = Field(min_length=1, max_length=64)


class WorkReport(VolunteerCommand):
    note: str = Field("", max_length=2000)


class CancelRequestV1(Command):
    command_type: ClassVar[str] = "request.cancel"


class RateRequestV1(Command):
    command_type: ClassVar[str] = "request.rate"
    stars: int = Field(ge=1, le=5)
    comment: str = Field("", max_length=1000)


class AddNoteV1(Command):
    command_type: ClassVar[str] = "request.add_note"
    text: str = Field(min_length=1, max_length=2000)


class ReportNotDoneV1(Command):
    command_type: ClassVar[str] = "request.report_not_done"


class AcceptOfferV1(VolunteerCommand):
    command_type: ClassVar[str] = "offer.accept"


class DeclineOfferV1(VolunteerCommand):
    command_type: ClassVar[str] = "offer.decline"


class StartWorkV1(WorkReport):
    command_type: ClassVar[str] = "work.start"


class CompleteWorkV1(WorkReport):
    command_type: ClassVar[str] = "work.complete"


class CannotCompleteWorkV1(WorkReport):
    command_type: ClassVar[str] = "work.cannot_complete"


class EditServiceHoursV1(VolunteerCommand):
    """The volunteer corrects the minutes of their last resolved piece of work on this request (audited)."""

    command_type: ClassVar[str] = "work.edit_hours"
    minutes: int = Field(ge=1, le=24 * 60)
    reason: str = Field(min_length=1, max_length=1000)


class ReassignV1(Command):
    command_type: ClassVar[str] = "operator.reassign"
    volunteer_id: str | None = Field(None, max_length=64, description="Target volunteer; none means match again")


class EscalateV1(Command):
    command_type: ClassVar[str] = "operator.escalate"


class CloseV1(Command):
    command_type: ClassVar[str] = "operator.close"


class ChangePriorityV1(Command):
    command_type: ClassVar[str] = "operator.change_priority"
    priority: Literal["low", "normal", "high", "critical"]


class ConfirmCheckInV1(Command):
    """A scheduled check-in is confirmed: the resident's own "I'm fine" (SMS reply, phone, desk)."""

    command_type: ClassVar[str] = "care.confirm_check_in"
    note: str = Field("", max_length=500)


class CareNeedV1(BaseModel):
    """What a visited resident needs, filed as a request on the spot."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    menu_item_code: str = Field(min_length=1, max_length=64)
    text: str = Field("", max_length=2000)


class RecordVisitOutcomeV1(VolunteerCommand):
    """The visit log (走访记录): how a scheduled visit or call went, reported by the volunteer who made it."""

    command_type: ClassVar[str] = "care.record_visit"
    outcome: Literal["fine", "needs_something", "no_response"]
    note: str = Field("", max_length=2000)
    need: CareNeedV1 | None = Field(None, description="Required when the outcome is needs_something")

    @model_validator(mode="after")
    def _need_when_needed(self) -> RecordVisitOutcomeV1:
        if (self.outcome == "needs_something") != (self.need is not None):
            raise ValueError("give a need exactly when the outcome is needs_something")
        return self


COMMANDS: tuple[type[Command], ...] = (
    CancelRequestV1,
    RateRequestV1,
    AddNoteV1,
    ReportNotDoneV1,
    AcceptOfferV1,
    DeclineOfferV1,
    StartWorkV1,
    CompleteWorkV1,
    CannotCompleteWorkV1,
    EditServiceHoursV1,
    ReassignV1,
    EscalateV1,
    CloseV1,
    ChangePriorityV1,
    ConfirmCheckInV1,
    RecordVisitOutcomeV1,
)
COMMAND_PAYLOADS: dict[str, type[Command]] = {command.command_type: command for command in COMMANDS}

REQUEST_CANCEL = CancelRequestV1.command_type
REQUEST_RATE = RateRequestV1.command_type
REQUEST_ADD_NOTE = AddNoteV1.command_type
REQUEST_REPORT_NOT_DONE = ReportNotDoneV1.command_type
OFFER_ACCEPT = AcceptOfferV1.command_type
OFFER_DECLINE = DeclineOfferV1.command_type
WORK_START = StartWorkV1.command_type
WORK_COMPLETE = CompleteWorkV1.command_type
WORK_CANNOT_COMPLETE = CannotCompleteWorkV1.command_type
WORK_EDIT_HOURS = EditServiceHoursV1.command_type
OPERATOR_REASSIGN = ReassignV1.command_type
OPERATOR_ESCALATE = EscalateV1.command_type
OPERATOR_CLOSE = CloseV1.command_type
OPERATOR_CHANGE_PRIORITY = ChangePriorityV1.command_type
CARE_CONFIRM_CHECK_IN = ConfirmCheckInV1.command_type
CARE_RECORD_VISIT = RecordVisitOutcomeV1.command_type

for _command_type, _model in COMMAND_PAYLOADS.items():
    register_payload(_command_type, 1, _model)
