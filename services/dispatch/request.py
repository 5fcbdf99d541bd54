"""The request aggregate: its state, clocks, offer rounds, timers, decisions, ratings and outbox, in one object.

Only dispatch's owner of the district changes a request, in memory, through the methods here; the
document it is stored as (`to_document` / `from_document`) is what intake, Open311 and the console read.
No I/O here: the roster and the reference data the methods need are passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from services.dispatch.domain import escalation
from services.dispatch.domain.escalation import EscalationOutcome, EscalationStep, LevelDeadlines, SlaPolicy
from services.dispatch.domain.matching import Place
from services.dispatch.domain.offers import OfferPolicy, OfferRounds, OfferStep
from services.dispatch.domain.states import (
    AWAITING_VOLUNTEER,
    REQUEST_COMMAND_REJECTED,
    REQUEST_ESCALATED,
    REQUEST_SLA_BREACHED,
    REQUEST_SLA_WARNING,
    REQUEST_UNMATCHED,
    TERMINAL_STATUSES,
    WITH_VOLUNTEER,
    Command,
    EscalationLevel,
    Rejection,
    RequestState,
    RequestStatus,
    StatusEvent,
    Timer,
    TimerKind,
    apply,
    notice,
)
from shared.contracts import StatusChangedV1, new_event
from shared.mongo import Document

SOURCE: Final = "dispatch"
SYSTEM: Final = "system:dispatch"
LEVEL_NAMES: Final = {level.wire_name: level for level in EscalationLevel}
# Enough to recognise redeliveries after a crash (the uncommitted tail of a partition), bounded per request.
PROCESSED_IDS_KEPT: Final = 200
EXCLUSIONS_KEPT: Final = 50
# Events a level's responsible person must see even in quiet hours.
ALERTS: Final = frozenset({REQUEST_ESCALATED, REQUEST_SLA_WARNING, REQUEST_SLA_BREACHED, REQUEST_UNMATCHED})
PRIORITIES: Final = ("low", "normal", "high", "critical")
# Minutes to accept and to resolve when a menu item gives no deadlines: errands within 2–3 hours as in
# the reports, a welfare check in minutes.
DEFAULT_DEADLINES: Final[Mapping[str, tuple[float, float]]] = {
    "critical": (10, 60),
    "high": (30, 180),
    "normal": (60, 180),
    "low": (24 * 60, 14 * 24 * 60),
}
# How a priority set above or below the item's urgency scales its clocks (an operator's "high" halves them).
PRIORITY_PACE: Final[Mapping[str, float]] = {"low": 2.0, "normal": 1.0, "high": 0.5, "critical": 0.25}
PRIORITY_RANK: Final[Mapping[str, int]] = {name: rank for rank, name in enumerate(reversed(PRIORITIES))}


@dataclass(frozen=True)
class MenuTerms:
    """The item's matching and SLA terms at submission: later menu edits do not change a running request."""

    code: str
    urgency: str = "normal"
    required_skills: tuple[str, ...] = ()
    deadlines: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    offer_timeout_seconds: float | None = None
    widen_every_seconds: float | None = None
    first_round: int = 3
    widen_by: int = 3

    @classmethod
    def of(cls, item: Document) -> MenuTerms:
        return cls(
            code=item.get("code", ""),
            urgency=item.get("urgency", "normal"),
            required_skills=tuple(item.get("required_skills") or ()),
            deadlines=item.get("deadlines") or {},
            offer_timeout_seconds=item.get("offer_timeout_seconds"),
            widen_every_seconds=item.get("widen_every_seconds"),
            first_round=int(item.get("first_round", 3)),
            widen_by=int(item.get("widen_by", 3)),
        )

    def stored(self) -> Document:
        return {
            "code": self.code,
            "urgency": self.urgency,
            "required_skills": list(self.required_skills),
            "deadlines": {k: dict(v) for k, v in self.deadlines.items()},
            "offer_timeout_seconds": self.offer_timeout_seconds,
            "widen_every_seconds": self.widen_every_seconds,
            "first_round": self.first_round,
            "widen_by": self.widen_by,
        }


@dataclass(frozen=True)
class OfferDefaults:
    offer_timeout_seconds: float = 900.0
    urgent_offer_timeout_seconds: float = 120.0
    urgent_widen_every_seconds: float = 60.0


def sla_policy(menu: MenuTerms, priority: str) -> SlaPolicy:
    """The item's deadlines (or the defaults of its urgency), paced by the request's priority."""
    pace = PRIORITY_PACE.get(priority, 1.0) / PRIORITY_PACE.get(menu.urgency, 1.0)
    accept, resolve = DEFAULT_DEADLINES.get(menu.urgency, DEFAULT_DEADLINES["normal"])
    per_level = {EscalationLevel.GRID: LevelDeadlines(timedelta(minutes=accept), timedelta(minutes=resolve))}
    for name, minutes in menu.deadlines.items():
        if name in LEVEL_NAMES:
            per_level[LEVEL_NAMES[name]] = LevelDeadlines(
                timedelta(minutes=float(minutes["accept_minutes"])),
                timedelta(minutes=float(minutes["resolve_minutes"])),
            )
    return SlaPolicy(
        {level: LevelDeadlines(d.accept_within * pace, d.resolve_within * pace) for level, d in per_level.items()}
    )


def offer_policy(menu: MenuTerms, priority: str, defaults: OfferDefaults) -> OfferPolicy:
    """One volunteer at a time; widening rounds when the item or the request's priority is critical."""
    if menu.urgency == "critical" or priority == "critical":
        timeout = menu.offer_timeout_seconds or defaults.urgent_offer_timeout_seconds
        every = menu.widen_every_seconds or defaults.urgent_widen_every_seconds
        return OfferPolicy.widening(
            first=menu.first_round,
            more=menu.widen_by,
            every=timedelta(seconds=every),
            offer_timeout=timedelta(seconds=timeout),
        )
    timeout = menu.offer_timeout_seconds or defaults.offer_timeout_seconds
    if priority == "high":
        timeout = min(timeout, defaults.offer_timeout_seconds / 2)
    return OfferPolicy.one_at_a_time(timedelta(seconds=timeout))


def storable(value: Any) -> Any:
    """Keys MongoDB cannot store (a `.` inside, a leading `$`) in their full-width look-alikes, recursively."""
    if isinstance(value, dict):
        return {
            key.replace(".", "\uff0e").replace("$", "\uff04", 1)
            if key.startswith("$") or "." in key
            else key: storable(v)
            for key, v in value.items()
        }
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _care_of(stored: Document | None) -> Document | None:
    """The care state as stored: its instants made aware again (the database keeps them naive, in UTC)."""
    if not stored:
        return None
    care = {k: _aware(v) if isinstance(v, datetime) else v for k, v in stored.items()}
    care["log"] = [
        {k: _aware(v) if isinstance(v, datetime) else v for k, v in e.items()} for e in stored.get("log") or []
    ]
    return care


def _timer_document(timer: Timer) -> Document:
    return {
        "kind": timer.kind.value,
        "due_at": timer.due_at,
        "level": timer.level.wire_name,
        "generation": timer.generation,
        "volunteer_id": timer.volunteer_id,
        "clock": timer.clock,
        "deadline_at": timer.deadline_at,
    }


def _timer_of(request_id: str, stored: Document) -> Timer:
    due_at = _aware(stored["due_at"])
    assert due_at is not None
    return Timer(
        kind=TimerKind(stored["kind"]),
        request_id=request_id,
        due_at=due_at,
        level=LEVEL_NAMES[stored["level"]],
        generation=int(stored["generation"]),
        volunteer_id=stored.get("volunteer_id"),
        clock=stored.get("clock"),
        deadline_at=_aware(stored.get("deadline_at")),
    )


def _rounds_document(rounds: OfferRounds | None) -> Document | None:
    if rounds is None:
        return None
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


def _rounds_of(raw: Document | None) -> OfferRounds | None:
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
        next_widen_at=_aware(raw.get("next_widen_at")),
    )


@dataclass
class Request:
    """One request as its owner holds it. `changed` says it must be written; `outbox` what to publish."""

    id: str
    district_id: str
    place: Place
    menu: MenuTerms
    priority: str
    resident: Document
    linked_heart_id: str | None
    text: str
    attributes: Document
    submitted_by: Document | None
    submitted_at: datetime
    created_at: datetime
    updated_at: datetime
    state: RequestState
    rounds: OfferRounds | None = None
    tried: set[str] = field(default_factory=set)
    clocks: dict[str, datetime] = field(default_factory=dict)
    timers: list[Timer] = field(default_factory=list)
    decisions: list[Document] = field(default_factory=list)
    timeline: list[Document] = field(default_factory=list)
    outbox: list[Document] = field(default_factory=list)
    notes: list[Document] = field(default_factory=list)
    ratings: list[Document] = field(default_factory=list)
    # The assigned volunteer's corrections of their hours (services/dispatch/service_record.py), kept as the audit.
    hours_edits: list[Document] = field(default_factory=list)
    processed: list[str] = field(default_factory=list)
    sequence: int = 0
    version: int = 0
    assigned_at: datetime | None = None
    resolved_at: datetime | None = None
    clocks_started_at: datetime | None = None
    # Scheduled care (`services/dispatch/care.py`): the plan and occurrence it carries out, its window,
    # confirmation or miss, the visit log, and the care work it called for. None for other requests.
    care: Document | None = None
    changed: bool = True

    # -- reading ---------------------------------------------------------------------------------
    @property
    def status(self) -> RequestStatus:
        return self.state.status

    @property
    def live(self) -> bool:
        """Waiting for or held by a volunteer: kept in memory with its timers; otherwise loaded on demand."""
        return self.state.status in AWAITING_VOLUNTEER or self.state.status in WITH_VOLUNTEER

    @property
    def waiting(self) -> bool:
        return self.state.status in AWAITING_VOLUNTEER and not self.state.offered_to

    @property
    def holder(self) -> str | None:
        """The volunteer whose capacity this request takes."""
        return self.state.assignee_id if self.state.status in WITH_VOLUNTEER else None

    @property
    def rating(self) -> Document | None:
        """This cycle's rating: a redo starts a new cycle that is rated anew."""
        current = [r for r in self.ratings if r.get("cycle") == self.state.redo_count]
        return current[-1] if current else None

    def sla(self) -> SlaPolicy:
        return sla_policy(self.menu, self.priority)

    def has_processed(self, event_id: str) -> bool:
        return event_id in self.processed

    def queue_order(self) -> tuple[int, datetime, str]:
        """Re-match order: higher priority first, then the oldest."""
        return (PRIORITY_RANK.get(self.priority, 2), self.submitted_at, self.id)

    # -- changing --------------------------------------------------------------------------------
    def snapshot(self) -> Request:
        """A copy to go back to when applying a message fails half-way (or changes nothing worth keeping)."""
        return replace(
            self,
            tried=set(self.tried),
            clocks=dict(self.clocks),
            timers=list(self.timers),
            decisions=list(self.decisions),
            timeline=list(self.timeline),
            outbox=list(self.outbox),
            notes=list(self.notes),
            ratings=list(self.ratings),
            hours_edits=list(self.hours_edits),
            processed=list(self.processed),
            care=None if self.care is None else {**self.care, "log": list(self.care.get("log") or [])},
        )

    def restore(self, snapshot: Request) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(snapshot, name))

    def processed_event(self, event_id: str) -> None:
        self.processed = [*self.processed, event_id][-PROCESSED_IDS_KEPT:]

    def emit(
        self, events: Iterable[StatusEvent], *, message: str = "", detail: Mapping[str, Any] | None = None
    ) -> None:
        for event in events:
            self._publish(event, message=message, detail=detail)

    def run(self, command: Command, at: datetime, *, detail: Mapping[str, Any] | None = None) -> bool:
        """Apply a state-machine command; an illegal one is answered with `request.command_rejected`."""
        result = apply(self.state, command, at=at)
        if isinstance(result, Rejection):
            self.emit([result.event])
            return False
        self.state = result.state
        self.emit(result.events, detail=detail)
        return True

    def reject(
        self, command_type: str, *, by: str, problem: str, at: datetime, volunteer_id: str | None = None
    ) -> None:
        event = notice(
            self.state,
            REQUEST_COMMAND_REJECTED,
            at=at,
            by=by,
            reason=problem,
            volunteer_id=volunteer_id,
            data={"command": command_type},
        )
        self.emit([event])

    def decide(
        self, kind: str, *, at: datetime, actor: str, reason: str, chosen: str | None = None, **extra: Any
    ) -> None:
        self.decisions.append(
            {
                "at": at,
                "kind": kind,
                "level": self.state.level.wire_name,
                "chosen_volunteer_id": chosen,
                "reason": reason,
                "actor": actor,
                **extra,
            }
        )

    def take_offers(self, step: OfferStep) -> None:
        self.state = step.request
        self.emit(step.events)
        self.timers.extend(step.timers)
        self.rounds = step.rounds
        self.tried |= step.request.offered_to

    def take_clocks(self, step: EscalationStep, at: datetime) -> None:
        """New clocks replace the running ones: their pending timers are dropped, the new ones kept."""
        if not step.timers:
            return
        self.timers = [t for t in self.timers if t.kind not in (TimerKind.SLA_WARNING, TimerKind.SLA_DEADLINE)]
        self.timers.extend(step.timers)
        for timer in step.timers:
            if timer.kind is TimerKind.SLA_DEADLINE and timer.clock and timer.deadline_at:
                self.clocks[timer.clock] = timer.deadline_at
        self.clocks = {clock: due for clock, due in self.clocks.items() if clock in {t.clock for t in step.timers}}
        self.clocks_started_at = at

    def restart_clocks(self) -> None:
        """Deadlines after a priority change: the running clocks keep their start, at the new pace."""
        started = self.clocks_started_at or self.submitted_at
        timers = escalation.clock_timers(self.state, self.sla(), started_at=started)
        self.take_clocks(EscalationStep(self.state, EscalationOutcome.WARNED, timers=timers), started)

    def finish_offer_timer(self, timer: Timer) -> bool:
        """Take a due timer off the request; False when it was already cancelled or fired."""
        try:
            self.timers.remove(timer)
        except ValueError:
            return False
        return True

    def close_if_done(self) -> None:
        if not self.live:
            self.timers = []
            self.rounds = None if self.state.status in TERMINAL_STATUSES else self.rounds

    def _publish(self, event: StatusEvent, *, message: str = "", detail: Mapping[str, Any] | None = None) -> None:
        self.sequence += 1
        critical = self.menu.urgency == "critical" or self.priority == "critical" or event.type in ALERTS
        data = StatusChangedV1(
            status=event.status.value,
            sequence=self.sequence,
            message=message[:500],
            grid_id=self.place.grid_id,
            community_id=self.place.community_id or None,
            menu_item_code=self.menu.code,
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
            district_id=self.district_id,
            request_id=self.id,
            event_id=f"{self.id}:{self.sequence}",
            time=event.at,
            data=data,
        ).model_dump(mode="json")
        self.timeline.append(envelope)
        self.outbox.append(envelope)
        self.changed = True

    # -- storing ---------------------------------------------------------------------------------
    def to_document(self, *, epoch: int) -> Document:
        status = self.state.status
        accept_due, resolve_due = self.clocks.get("accept"), self.clocks.get("resolve")
        if status in AWAITING_VOLUNTEER:
            sla_due = accept_due
        elif status in WITH_VOLUNTEER:
            sla_due = resolve_due
        else:
            sla_due = None
        return {
            "_id": self.id,
            "district_id": self.district_id,
            # Set only while the request is live: the owner restores a district by this one equality.
            "live_district_id": self.district_id if self.live else None,
            "street_office_id": self.place.street_office_id or None,
            "community_id": self.place.community_id or None,
            "grid_id": self.place.grid_id,
            "menu_item_code": self.menu.code,
            "menu_item": self.menu.stored(),
            "urgency": self.menu.urgency,
            "priority": self.priority,
            "status": status.value,
            "level": self.state.level.wire_name,
            "resident": self.resident,
            # Top level so that an index serves the desk's look-ups (FerretDB v1 serves none on nested fields).
            "resident_id": self.resident.get("id"),
            "resident_phone": self.resident.get("phone"),
            "linked_heart_volunteer_id": self.linked_heart_id,
            "text": self.text,
            "attributes": storable(self.attributes),
            "submitted_by": self.submitted_by,
            "submitted_at": self.submitted_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "assigned_volunteer_id": self.state.assignee_id,
            "assigned_at": self.assigned_at,
            "resolved_at": self.resolved_at,
            "offered_volunteer_ids": sorted(self.state.offered_to),
            "tried_volunteer_ids": sorted(self.tried),
            "waiting": self.waiting,
            "accept_due_at": accept_due if status in AWAITING_VOLUNTEER else None,
            "resolve_due_at": resolve_due
            if status not in TERMINAL_STATUSES and status is not RequestStatus.RESOLVED
            else None,
            "sla_due_at": sla_due,
            "clocks": dict(self.clocks),
            "clocks_started_at": self.clocks_started_at,
            "offer_rounds": _rounds_document(self.rounds),
            "timers": [_timer_document(t) for t in self.timers],
            "redo_count": self.state.redo_count,
            "rating": self.rating,
            "ratings": self.ratings,
            "hours_edits": self.hours_edits,
            "notes": self.notes,
            "decisions": self.decisions,
            "timeline": self.timeline,
            "outbox": self.outbox,
            "processed_event_ids": self.processed,
            "care": self.care,
            "sequence": self.sequence,
            "version": self.version,
            "owner_epoch": epoch,
        }

    @classmethod
    def from_document(cls, doc: Document) -> Request:
        level = LEVEL_NAMES[doc.get("level", "grid")]
        ratings = list(doc.get("ratings") or [])
        if not ratings and doc.get("rating"):
            ratings = [{**doc["rating"], "cycle": int(doc.get("redo_count", 0))}]
        current = [r for r in ratings if r.get("cycle") == int(doc.get("redo_count", 0))]
        state = RequestState(
            request_id=doc["_id"],
            status=RequestStatus(doc["status"]),
            level=level,
            assignee_id=doc.get("assigned_volunteer_id"),
            offered_to=frozenset(doc.get("offered_volunteer_ids", [])),
            redo_count=int(doc.get("redo_count", 0)),
            rating=current[-1]["stars"] if current else None,
        )
        submitted_at = _aware(doc.get("submitted_at")) or datetime.now(UTC)
        request = cls(
            id=doc["_id"],
            district_id=doc["district_id"],
            place=Place(
                doc["district_id"], doc.get("street_office_id") or "", doc.get("community_id") or "", doc["grid_id"]
            ),
            menu=MenuTerms.of({"code": doc.get("menu_item_code", ""), **(doc.get("menu_item") or {})}),
            priority=doc.get("priority") or "normal",
            resident=doc.get("resident") or {},
            linked_heart_id=doc.get("linked_heart_volunteer_id"),
            text=doc.get("text", ""),
            attributes=doc.get("attributes") or {},
            submitted_by=doc.get("submitted_by"),
            submitted_at=submitted_at,
            created_at=_aware(doc.get("created_at")) or submitted_at,
            updated_at=_aware(doc.get("updated_at")) or submitted_at,
            state=state,
            rounds=_rounds_of(doc.get("offer_rounds")),
            tried=set(doc.get("tried_volunteer_ids") or []),
            clocks={k: v for k, v in ((k, _aware(v)) for k, v in (doc.get("clocks") or {}).items()) if v is not None},
            timers=[_timer_of(doc["_id"], t) for t in doc.get("timers") or []],
            decisions=list(doc.get("decisions") or []),
            timeline=list(doc.get("timeline") or []),
            outbox=list(doc.get("outbox") or []),
            notes=list(doc.get("notes") or []),
            ratings=ratings,
            hours_edits=list(doc.get("hours_edits") or []),
            processed=list(doc.get("processed_event_ids") or []),
            sequence=int(doc.get("sequence", 0)),
            version=int(doc.get("version", 0)),
            assigned_at=_aware(doc.get("assigned_at")),
            resolved_at=_aware(doc.get("resolved_at")),
            clocks_started_at=_aware(doc.get("clocks_started_at")),
            care=_care_of(doc.get("care")),
            changed=False,
        )
        return request
