"""Apply incoming request events to the request aggregate; the status events go to its outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.dispatch.repository import RequestRepository
from shared.contracts import (
    REQUEST_ASSIGNED,
    REQUEST_RECEIVED,
    REQUEST_UNASSIGNED,
    EventEnvelope,
    RequestSubmittedV1,
    StatusChangedV1,
    new_event,
)
from shared.mongo import Document

SOURCE = "dispatch"
# Enough to recognise redeliveries, small enough to keep the document bounded.
PROCESSED_IDS_KEPT = 500


def _status_event(document: Document, event_type: str, status: str, now: datetime, **fields: Any) -> dict[str, Any]:
    sequence = document["sequence"] + 1
    document["sequence"] = sequence
    event = new_event(
        event_type=event_type,
        source=SOURCE,
        district_id=document["district_id"],
        request_id=document["_id"],
        event_id=f"{document['_id']}:{sequence}",
        time=now,
        data=StatusChangedV1(status=status, sequence=sequence, grid_id=document.get("grid_id"), **fields),
    )
    return event.model_dump(mode="json")


async def handle_submitted(
    repository: RequestRepository, envelope: EventEnvelope, data: RequestSubmittedV1, now: datetime
) -> Document:
    """Create the request and assign it, or return the stored one when this is a redelivery."""
    existing = await repository.get(envelope.request_id)
    if existing is not None:
        return existing
    document: Document = {
        "_id": envelope.request_id,
        "district_id": envelope.district_id,
        "grid_id": data.grid_id,
        "menu_item_code": data.menu_item_code,
        "resident": {"name": data.resident_name, "phone": data.resident_phone},
        "text": data.text,
        "status": "submitted",
        "submitted_at": envelope.time,
        "created_at": now,
        "updated_at": now,
        "assigned_volunteer_id": None,
        "version": 1,
        "sequence": 0,
        "processed_event_ids": [envelope.id],
        "timeline": [],
        "outbox": [],
    }
    events = [_status_event(document, REQUEST_RECEIVED, "submitted", now, message="request received")]
    # Placeholder matching until the dispatch engine lands: the grid's first active volunteer.
    volunteer = await repository.first_active_volunteer(envelope.district_id, data.grid_id)
    if volunteer is None:
        document["status"] = "unassigned"
        events.append(
            _status_event(
                document,
                REQUEST_UNASSIGNED,
                "unassigned",
                now,
                message="no active volunteer in this grid",
                reason="grid has no active volunteer",
            )
        )
    else:
        document["status"] = "assigned"
        document["assigned_volunteer_id"] = volunteer["_id"]
        events.append(
            _status_event(
                document,
                REQUEST_ASSIGNED,
                "assigned",
                now,
                message=f"assigned to {volunteer.get('name', volunteer['_id'])}",
                volunteer_id=volunteer["_id"],
                reason="first active volunteer of the grid",
            )
        )
    document["timeline"] = events
    document["outbox"] = list(events)
    document["outbox_pending"] = True
    if not await repository.create(document):
        # Another replica created it between our read and our insert; theirs is the truth.
        stored = await repository.get(envelope.request_id)
        assert stored is not None
        return stored
    return document
