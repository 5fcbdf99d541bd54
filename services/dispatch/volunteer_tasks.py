"""Read model `volunteer_tasks`: per volunteer (`_id` = volunteer id), the open offers and assignments.

The volunteer's phone page reads one document by `_id` instead of querying `requests`. Dispatch writes it
in its batch (see `owner._flush`), from the live requests it already holds in memory: pure functions here,
no I/O.

Which volunteers a batch touches: everyone a changed request now offers or is assigned to, plus every
volunteer named by the status events of the batch (a declined, expired or withdrawn offer, an unassigned
or resolved request names the volunteer it leaves). Each touched volunteer's document is rebuilt whole
from the district's live requests, so writing it is idempotent and a redelivered batch writes the same.

The document is written before the requests of its batch. A crash in between leaves it ahead of the
requests; the replayed batch rewrites it. It can still name a request that no longer concerns the
volunteer (a replay that matched differently, a request the database refused): readers therefore check
each entry against the request document they read by `_id` anyway, and show only what it confirms.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Final

from services.dispatch.domain.states import AWAITING_VOLUNTEER, WITH_VOLUNTEER, TimerKind
from services.dispatch.request import Request
from shared.mongo import Document

COLLECTION: Final = "volunteer_tasks"


def touched_volunteers(changed: Iterable[Request]) -> set[str]:
    """Volunteers whose list a batch's changed requests may have changed."""
    touched: set[str] = set()
    for request in changed:
        touched |= request.state.offered_to
        if request.state.assignee_id:
            touched.add(request.state.assignee_id)
        for envelope in request.outbox:
            data = envelope.get("data") or {}
            if data.get("volunteer_id"):
                touched.add(str(data["volunteer_id"]))
            touched.update(str(v) for v in data.get("volunteer_ids") or [])
    return touched


def _offer_expires_at(request: Request, volunteer_id: str) -> datetime | None:
    due = [t.due_at for t in request.timers if t.kind is TimerKind.OFFER_TIMEOUT and t.volunteer_id == volunteer_id]
    if not due:
        due = [t.due_at for t in request.timers if t.kind is TimerKind.OFFER_TIMEOUT and t.volunteer_id is None]
    return min(due) if due else None


def offer_entry(request: Request, volunteer_id: str) -> Document:
    return {
        "request_id": request.id,
        "status": request.status.value,
        "menu_item_code": request.menu.code,
        "grid_id": request.place.grid_id,
        "priority": request.priority,
        "expires_at": _offer_expires_at(request, volunteer_id),
        "accept_due_at": request.clocks.get("accept"),
    }


def assignment_entry(request: Request) -> Document:
    return {
        "request_id": request.id,
        "status": request.status.value,
        "menu_item_code": request.menu.code,
        "grid_id": request.place.grid_id,
        "priority": request.priority,
        "assigned_at": request.assigned_at,
        "resolve_due_at": request.clocks.get("resolve"),
    }


def documents(
    district_id: str, live: Mapping[str, Request], touched: Iterable[str], *, now: datetime, epoch: int
) -> list[Document]:
    """The whole document of each touched volunteer, from the district's live requests (memory only)."""
    wanted = set(touched)
    if not wanted:
        return []
    offers: dict[str, list[Document]] = {v: [] for v in wanted}
    assignments: dict[str, list[Document]] = {v: [] for v in wanted}
    for request in live.values():
        status = request.status
        if status in AWAITING_VOLUNTEER:
            for volunteer_id in request.state.offered_to & wanted:
                offers[volunteer_id].append(offer_entry(request, volunteer_id))
        elif status in WITH_VOLUNTEER and request.state.assignee_id in wanted:
            assignments[request.state.assignee_id].append(assignment_entry(request))
    return [
        {
            "_id": volunteer_id,
            "district_id": district_id,
            "offers": sorted(offers[volunteer_id], key=lambda e: e["request_id"]),
            "assignments": sorted(assignments[volunteer_id], key=lambda e: e["request_id"]),
            "updated_at": now,
            "owner_epoch": epoch,
        }
        for volunteer_id in sorted(wanted)
    ]
