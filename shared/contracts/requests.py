"""Events on grid.requests.v2: what residents and operators ask for."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contracts.commands import Actor
from shared.contracts.envelope import register_payload

REQUEST_SUBMITTED = "request.submitted"


class RequestSubmitted(BaseModel):
    """A resident (or an operator on their behalf) asked for an item of the community's menu.

    What every version of `request.submitted` carries; consumers handle this class, producers send a
    version (`RequestSubmittedV1`, `RequestSubmittedV2`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    menu_item_code: str = Field(min_length=1, max_length=64)
    grid_id: str = Field(min_length=1, max_length=64)
    resident_name: str = Field(min_length=1, max_length=100)
    resident_phone: str | None = Field(None, min_length=3, max_length=32)
    text: str = Field("", max_length=2000)
    # Filled by intake from reference data so that dispatch can match without reading them again.
    community_id: str | None = Field(None, max_length=64)
    street_office_id: str | None = Field(None, max_length=64)
    resident_id: str | None = Field(None, max_length=64, description="The household (`residents` `_id`), if known")
    resident_language: str | None = Field(None, max_length=16, description="e.g. zh, en, hui")
    linked_heart_volunteer_id: str | None = Field(None, max_length=64)
    priority: Literal["low", "normal", "high", "critical"] | None = None
    attributes: dict[str, Any] = Field(default_factory=dict, description="Answers to the menu item's questions")
    submitted_by: Actor | None = None


class RequestSubmittedV1(RequestSubmitted):
    """A submission with the resident's phone number."""

    resident_phone: str = Field(min_length=3, max_length=32)


class RequestSubmittedV2(RequestSubmitted):
    """V1 where the phone may be absent: a household without a phone, named by `resident_id` (filed by an
    operator at the desk). Intake sends V1 whenever there is a phone, so a dispatch that knows only V1 keeps
    handling those during a rolling upgrade; only phone-less submissions need a dispatch that reads V2."""

    @model_validator(mode="after")
    def _someone_to_reach(self) -> RequestSubmittedV2:
        if self.resident_phone is None and self.resident_id is None:
            raise ValueError("a submission without resident_phone must name the household by resident_id")
        return self


register_payload(REQUEST_SUBMITTED, 1, RequestSubmittedV1)
register_payload(REQUEST_SUBMITTED, 2, RequestSubmittedV2)
