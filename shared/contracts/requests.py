"""Events on grid.requests.v1: what residents and operators ask for."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

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


register_payload(REQUEST_SUBMITTED, 1, RequestSubmittedV1)
