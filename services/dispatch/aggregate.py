"""Pure translation between stored documents and the domain: request state, offer rounds, policies, events.

No I/O here: handlers load documents, these functions turn them into domain values and back.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any, Final

from services.dispatch.domain.escalation import LevelDeadlines, SlaPolicy
from services.dispatch.domain.matching import Coordinates, Place, Volunteer, WeeklyWindow
from services.dispatch.domain.offers import OfferPolicy, OfferRounds
from services.dispatch.domain.states import (
    AWAITING_VOLUNTEER,
    REQUEST_ESCALATED,
    REQUEST_SLA_BREACHED,
    REQUEST_SLA_WARNING,
    REQUEST_UNMATCHED,
    EscalationLevel,
    RequestState,
    RequestStatus,
    StatusEvent,
    Timer,
    TimerKind,
)
from services.dispatch.settings import DispatchEngineSettings
from shared.contracts import StatusChangedV1, new_event
from shared.mongo import Document

SOURCE: Final = "dispatch"
LEVEL_NAMES: Final = {level.wire_name: level for level in EscalationLevel}
ALWAYS: Final = tuple(WeeklyWindow(day, time(0), time(0)) for day in range(7))
# Events a level's responsible person must see even in quiet hours.
ALERTS: Final = frozenset({REQUEST_ESCALATED, REQUEST_SLA_WARNING, REQUEST_SLA_BREACHED, REQUEST_UNMATCHED})
# Deadlines (minutes to accept, to resolve) when a menu item gives none: errands within 2–3 hours as in
# the reports, a welfare check in minutes.
DEFAULT_DEADLINES: Final[Mapping[str, tuple[float, float]]] = {
    "critical": (10, 60),
    "high": (30, 180),
    "normal": (60, 180),
    "low": (24 * 60, 14 * 24 * 60),
}


def state_of(document: Document) -> RequestState:
    return RequestState(
        request_id=document["_id"],
        status=RequestStatus(document["status"]),
        level=LEVEL_NAMES[document.get("level", "grid")],
        assignee_id=document.get("assigned_volunteer_id"),
        offered_to=frozenset(document.get("offered_volunteer_ids", [])),
        redo_count=int(document.get("redo_count", 0)),
        rating=(document.get("rating") or {}).get("stars"),
    )


def store_state(document: Document, state: RequestState) -> None:
    document["status"] = state.status.value
    document["level"] = state.level.wire_name
    document["assigned_volunteer_id"] = state.assignee_id
    document["offered_volunteer_ids"] = sorted(state.offered_to)
    document["redo_count"] = state.redo_count
    document["waiting"] = state.status in AWAITING_VOLUNTEER and not state.offered_to


def offer_policy(menu_item: Document, settings: DispatchEngineSettings) -> OfferPolicy:
    """One volunteer at a time; widening rounds for critical items (a welfare check)."""
    urgency = menu_item.get("urgency", "normal")
    if urgency == "critical":
        timeout = float(menu_item.get("offer_timeout_seconds") or settings.urgent_offer_timeout_seconds)
        every = float(menu_item.get("widen_every_seconds") or settings.urgent_widen_every_seconds)
        return OfferPolicy.widening(
            first=int(menu_item.get("first_round", 3)),
            more=int(menu_item.get("widen_by", 3)),
            every=timedelta(seconds=every),
            offer_timeout=timedelta(seconds=timeout),
        )
    timeout = float(menu_item.get("offer_timeout_seconds") or settings.offer_timeout_seconds)
    return OfferPolicy.one_at_a_time(timedelta(seconds=timeout))


def sla_policy(menu_item: Document) -> SlaPolicy:
    accept, resolve = DEFAULT_DEADLINES.get(menu_item.get("urgency", "normal"), DEFAULT_DEADLINES["normal"])
    given: Mapping[str, Any] = menu_item.get("deadlines") or {}
    per_level = {EscalationLevel.GRID: LevelDeadlines(timedelta(minutes=accept), timedelta(minutes=resolve))}
    for name, minutes in given.items():
        if name in LEVEL_NAMES:
            per_level[LEVEL_NAMES[name]] = LevelDeadlines(
                timedelta(minutes=float(minutes["accept_minutes"])),
                timedelta(minutes=float(minutes["resolve_minutes"])),
            )
    return SlaPolicy(per_level)


def rounds_of(document: Document) -> OfferRounds | None:
    raw = document.get("offer_rounds")
    if not raw:
        return None
    policy = raw["policy"]
    widen_every = policy.get("widen_every_seconds")
    return OfferRounds(
        policy=OfferPolicy(
            offer_timeout=timedelta(seconds=policy["offer_timeout_seconds"]),
            first_round=policy["first_round"],
            widen_by=policy["widen_by"],
            widen_every=timedelta(seconds=widen_every) if widen_every else None,
        ),
        candidates=tuple(raw["candidates"]),
        generation=raw["generation"],
        cursor=raw["cursor"],
        round=raw["round"],
        next_widen_at=raw.get("next_widen_at"),
    )


def stored_rounds(rounds: OfferRounds) -> Document:
    policy = rounds.policy
    return {
        "policy": {
            "offer_timeout_seconds": policy.offer_timeout.total_seconds(),
            "first_round": policy.first_round,
            "widen_by": policy.widen_by,
            "widen_every_seconds": policy.widen_every.total_seconds() if policy.widen_every else None,
        },
        "candidates": list(rounds.candidates),
        "generation": rounds.generation,
        "cursor": rounds.cursor,
        "round": rounds.round,
        "next_widen_at": rounds.next_widen_at,
    }


def volunteer_of(document: Document) -> Volunteer:
    windows = tuple(
        WeeklyWindow(int(w["weekday"]), time.fromisoformat(w["start"]), time.fromisoformat(w["end"]))
        for w in document.get("availability") or []
    )
    location = document.get("location")
    return Volunteer(
        volunteer_id=document["_id"],
        home=Place(
            document["district_id"],
            document.get("street_office_id", ""),
            document.get("community_id", ""),
            document.get("grid_id", ""),
        ),
        skills=frozenset(document.get("skills") or []),
        languages=frozenset(document.get("languages") or []),
        windows=windows or ALWAYS,  # an empty availability list means always available
        capacity=int(document.get("capacity", 1)),
        open_assignments=int(document.get("open_assignments", 0)),
        last_assigned_at=document.get("last_assigned_at"),
        active=bool(document.get("active", True)),
        location=Coordinates(float(location["lat"]), float(location["lon"])) if location else None,
    )


def place_of(document: Document) -> Place:
    return Place(
        document["district_id"],
        document.get("street_office_id") or "",
        document.get("community_id") or "",
        document["grid_id"],
    )


def spare_capacity(volunteers: Mapping[str, Document]) -> dict[str, int]:
    return {
        vid: int(v.get("capacity", 1)) - int(v.get("open_assignments", 0)) if v.get("active", True) else 0
        for vid, v in volunteers.items()
    }


def timer_document(document: Document, timer: Timer) -> Document:
    """A timer's id is derived from what it is, so scheduling the same timer twice keeps one document."""
    what = timer.volunteer_id or timer.clock or ""
    timer_id = (
        f"{timer.request_id}:{timer.kind.value}:{timer.level.wire_name}:{timer.generation}:{what}:"
        f"{timer.due_at.astimezone(UTC).isoformat()}"
    )
    return {
        "_id": timer_id,
        "district_id": document["district_id"],
        "request_id": timer.request_id,
        "kind": timer.kind.value,
        "due_at": timer.due_at,
        "level": timer.level.wire_name,
        "generation": timer.generation,
        "volunteer_id": timer.volunteer_id,
        "clock": timer.clock,
        "deadline_at": timer.deadline_at,
        "lease_until": datetime(1970, 1, 1, tzinfo=UTC),
        "claimed_by": None,
    }


def timer_of(stored: Document) -> Timer:
    return Timer(
        kind=TimerKind(stored["kind"]),
        request_id=stored["request_id"],
        due_at=stored["due_at"],
        level=LEVEL_NAMES[stored["level"]],
        generation=int(stored["generation"]),
        volunteer_id=stored.get("volunteer_id"),
        clock=stored.get("clock"),
        deadline_at=stored.get("deadline_at"),
    )


def envelope_of(
    document: Document, event: StatusEvent, *, message: str = "", detail: Document | None = None
) -> Document:
    """The status event as published: sequence without gaps and the routing fields notify needs."""
    sequence = document["sequence"] + 1
    document["sequence"] = sequence
    critical = document.get("urgency") == "critical" or event.type in ALERTS
    data = StatusChangedV1(
        status=event.status.value,
        sequence=sequence,
        message=message[:500],
        grid_id=document.get("grid_id"),
        community_id=document.get("community_id"),
        menu_item_code=document.get("menu_item_code"),
        level=event.level.wire_name,
        volunteer_id=event.volunteer_id,
        volunteer_ids=[event.volunteer_id] if event.volunteer_id else [],
        reason=event.reason[:500] or None,
        actor=event.by,
        critical=critical,
        detail={**dict(event.data), **(detail or {})},
    )
    envelope = new_event(
        event_type=event.type,
        source=SOURCE,
        district_id=document["district_id"],
        request_id=document["_id"],
        event_id=f"{document['_id']}:{sequence}",
        time=event.at,
        data=data,
    )
    return envelope.model_dump(mode="json")
