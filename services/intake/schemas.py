"""What the native API accepts and answers; request models refuse unknown fields."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.phone_numbers import PhoneNumber
from shared.text_hygiene import MultiLineText, SingleLineText

Priority = Literal["low", "normal", "high", "critical"]
__all__ = ["PhoneNumber"]  # reference data's models take phones as the native API does


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubmitRequestBody(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "menu_item_code": "errand.groceries",
                    "grid_id": "xgll-01",
                    "resident_name": "王仁柱",
                    "resident_phone": "13800001234",
                    "text": "请帮我买十斤米和一桶油",
                }
            ]
        },
    )

    menu_item_code: SingleLineText = Field(
        min_length=1, max_length=64, description="Code of an item of the community menu"
    )
    grid_id: SingleLineText = Field(min_length=1, max_length=64, description="The resident's grid")
    resident_name: SingleLineText | None = Field(
        None, min_length=1, max_length=100, description="Required from client apps; operators may give only a phone"
    )
    resident_phone: PhoneNumber | None = Field(
        None, description="Required unless `resident_id` names a household of the grid (it may have no phone)"
    )
    resident_id: SingleLineText | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="Operators only: the household (resident record) this is for; its name, language and phone "
        "are used when not given",
    )
    resident_language: SingleLineText | None = Field(None, min_length=1, max_length=16, description="e.g. zh, en, hui")
    text: MultiLineText = Field("", max_length=2000, description="What the resident said, in their words")
    attributes: dict[Annotated[SingleLineText, Field(max_length=64)], Any] = Field(
        default_factory=dict, max_length=50, description="Answers to the menu item's questions, by attribute code"
    )
    priority: Priority | None = Field(None, description="Operators only; otherwise the menu item's urgency")


class SubmitAccepted(BaseModel):
    request_id: str
    status: str = "submitted"
    status_url: str
    events_url: str
    access_token: str = Field(description="The resident's secret for reading this request and acting on it")


class CommandAccepted(BaseModel):
    request_id: str
    command_id: str
    type: str = Field(description="Event type published on grid.requests.v2, e.g. request.cancel")
    status: Literal["accepted"] = "accepted"


class ReasonBody(_Body):
    reason: MultiLineText = Field("", max_length=1000)


class RateBody(_Body):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"stars": 5, "comment": "很及时，谢谢"}]})

    stars: int = Field(ge=1, le=5)
    comment: MultiLineText = Field("", max_length=1000)


class NoteBody(_Body):
    text: MultiLineText = Field(min_length=1, max_length=2000)


class WorkBody(_Body):
    note: MultiLineText = Field("", max_length=2000, description="Result note, or why it cannot be done")
    reason: MultiLineText = Field("", max_length=1000)


class ReassignBody(_Body):
    volunteer_id: SingleLineText | None = Field(None, min_length=1, max_length=64, description="None: match again")
    reason: MultiLineText = Field("", max_length=1000)


class PriorityBody(_Body):
    priority: Priority
    reason: MultiLineText = Field("", max_length=1000)


class ResidentView(BaseModel):
    name: str | None = None
    phone: str | None = None
    language: str | None = None


class ProxyView(BaseModel):
    kind: str = Field(description="building_leader, family or linked_heart")
    name: str
    phone: str


class HouseholdView(BaseModel):
    """The household a request is for. Staff see all of it; the assigned volunteer the door to knock on and
    whom to call; a volunteer still deciding on an offer only the neighbourhood (`address` masked)."""

    resident_id: str
    address: str = Field(description="Full for staff and the assigned volunteer; masked for an offer")
    building: str | None = None
    unit: str | None = None
    household: str | None = None
    language: str | None = None
    has_phone: bool = Field(description="False: reach the household through its proxy contact")
    proxy: ProxyView | None = None
    vulnerabilities: list[str] = Field(default_factory=list)
    phone: str | None = Field(None, description="Staff only")
    name: str | None = None


class RatingView(BaseModel):
    stars: int
    comment: str = ""


class RequestSummary(BaseModel):
    request_id: str
    district_id: str
    status: str
    level: str | None = None
    priority: str | None = None
    grid_id: str | None = None
    community_id: str | None = None
    menu_item_code: str | None = None
    assigned_volunteer_id: str | None = None
    submitted_at: datetime | None = None
    updated_at: datetime | None = None
    sla_due_at: datetime | None = None


class RequestView(RequestSummary):
    """A request's detail; `resident` only for staff and the assigned volunteer."""

    street_office_id: str | None = None
    text: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    offered_volunteer_ids: list[str] = Field(default_factory=list)
    created_at: datetime | None = None
    accept_due_at: datetime | None = None
    resolve_due_at: datetime | None = None
    rating: RatingView | None = None
    notes: list[dict[str, Any]] = Field(default_factory=list)
    timeline: list[dict[str, Any]] = Field(default_factory=list, description="Every status event, oldest first")
    resident: ResidentView | None = Field(None, description="Personal data: staff and the assigned volunteer only")
    household: HouseholdView | None = Field(
        None, description="When filed for a known household: staff and the offered or assigned volunteer"
    )


class RequestPage(BaseModel):
    items: list[RequestSummary]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; none when done")
