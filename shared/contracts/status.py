"""Events on grid.status.v1: every status change of a request, as residents and operators see it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.envelope import register_payload

REQUEST_RECEIVED = "request.received"
REQUEST_ASSIGNED = "request.assigned"
REQUEST_UNASSIGNED = "request.unassigned"

STATUS_EVENT_TYPES = (REQUEST_RECEIVED, REQUEST_ASSIGNED, REQUEST_UNASSIGNED)


class StatusChangedV1(BaseModel):
    """Payload of every status event; `sequence` orders a request's events without gaps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: str = Field(min_length=1, max_length=40)
    sequence: int = Field(ge=1)
    message: str = Field("", max_length=500)
    grid_id: str | None = None
    volunteer_id: str | None = None
    reason: str | None = Field(None, max_length=500)


for _event_type in STATUS_EVENT_TYPES:
    register_payload(_event_type, 1, StatusChangedV1)
