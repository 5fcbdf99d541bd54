"""Events on grid.status.v2: every status change of a request, as residents and operators see it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.envelope import register_payload

REQUEST_RECEIVED = "request.received"
REQUEST_MATCHING = "request.matching"
REQUEST_OFFERED = "request.offered"
REQUEST_OFFER_DECLINED = "request.offer_declined"
REQUEST_OFFER_EXPIRED = "request.offer_expired"
REQUEST_OFFER_WITHDRAWN = "request.offer_withdrawn"
REQUEST_ASSIGNED = "request.assigned"
REQUEST_UNASSIGNED = "request.unassigned"
REQUEST_STARTED = "request.started"
REQUEST_RESOLVED = "request.resolved"
REQUEST_RATED = "request.rated"
REQUEST_REOPENED = "request.reopened"
REQUEST_ESCALATED = "request.escalated"
REQUEST_SLA_WARNING = "request.sla_warning"
REQUEST_SLA_BREACHED = "request.sla_breached"
REQUEST_UNMATCHED = "request.unmatched"
REQUEST_CANCELLED = "request.cancelled"
REQUEST_REJECTED = "request.rejected"
REQUEST_EXPIRED = "request.expired"
REQUEST_NOTE_ADDED = "request.note_added"
REQUEST_PRIORITY_CHANGED = "request.priority_changed"
REQUEST_COMMAND_REJECTED = "request.command_rejected"
# A scheduled check-in's window opened (docs/care.md): the resident is asked to reply "1" if they are fine.
CARE_CHECK_IN_DUE = "care.check_in_due"

STATUS_EVENT_TYPES = (
    REQUEST_RECEIVED,
    REQUEST_MATCHING,
    REQUEST_OFFERED,
    REQUEST_OFFER_DECLINED,
    REQUEST_OFFER_EXPIRED,
    REQUEST_OFFER_WITHDRAWN,
    REQUEST_ASSIGNED,
    REQUEST_UNASSIGNED,
    REQUEST_STARTED,
    REQUEST_RESOLVED,
    REQUEST_RATED,
    REQUEST_REOPENED,
    REQUEST_ESCALATED,
    REQUEST_SLA_WARNING,
    REQUEST_SLA_BREACHED,
    REQUEST_UNMATCHED,
    REQUEST_CANCELLED,
    REQUEST_REJECTED,
    REQUEST_EXPIRED,
    REQUEST_NOTE_ADDED,
    REQUEST_PRIORITY_CHANGED,
    REQUEST_COMMAND_REJECTED,
    CARE_CHECK_IN_DUE,
)


class StatusChangedV1(BaseModel):
    """Payload of every status event; `sequence` orders a request's events without gaps.

    The routing fields (community, grid, level, volunteers) let notify pick the audiences of an event
    without reading the request document; `critical` marks events that bypass quiet hours.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: str = Field(min_length=1, max_length=40)
    sequence: int = Field(ge=1)
    message: str = Field("", max_length=500)
    grid_id: str | None = None
    community_id: str | None = None
    menu_item_code: str | None = None
    level: str | None = Field(None, description="grid, community, street or district")
    volunteer_id: str | None = None
    volunteer_ids: list[str] = Field(default_factory=list, description="Volunteers this event concerns, e.g. offers")
    reason: str | None = Field(None, max_length=500)
    actor: str | None = Field(None, max_length=200, description="role:subject of who caused the change")
    critical: bool = False
    detail: dict[str, Any] = Field(default_factory=dict)


for _event_type in STATUS_EVENT_TYPES:
    register_payload(_event_type, 1, StatusChangedV1)
