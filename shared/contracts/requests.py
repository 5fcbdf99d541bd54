"""Events on grid.requests.v2: what residents and operators ask for."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.commands import Actor
from shared.contracts.envelope import register_payload

REQUEST_SUBMITTED = "request.submitted"


class RequestSubmittedV1(BaseModel):
    """A resident (or an operator on their behalf) asked for an item of the community's menu."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    menu_item_code: str = Field(min_length=1, max_length=64)
    grid_id: str = Field(min_length=1, max_length=64)
    resident_name: str = Field(min_length=1, max_length=100)
    resident_phone: str = Field(min_length=3, max_length=32)
    text: str = Field("", max_length=2000)
    # Filled by intake from reference data so that dispatch can match without reading them again.
    community_id: str | None = Field(None, max_length=64)
    street_office_id: str | None = Field(None, max_length=64)
    resident_id: str | None = Field(None, max_length=64)
    resident_language: str | None = Field(None, max_length=16, description="e.g. zh, en, hui")
    linked_heart_volunteer_id: str | None = Field(None, max_length=64)
    priority: Literal["low", "normal", "high", "critical"] | None = None
    attributes: dict[str, Any] = Field(default_factory=dict, description="Answers to the menu item's questions")
    submitted_by: Actor | None = None


register_payload(REQUEST_SUBMITTED, 1, RequestSubmittedV1)
