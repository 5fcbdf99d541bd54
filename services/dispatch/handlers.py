"""Apply request events, commands and timers to the request aggregate: load, call the pure domain, save.

Every change goes through `_change`: read the request, decide on a working copy, write it back with
optimistic concurrency on `version`, all in one document (state, processed ids, outbox of status
events, timers to schedule, volunteers to release). A conflict re-reads and decides again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from services.dispatch import aggregate
from services.dispatch.domain import escalation, offers
from services.dispatch.domain.escalation import EscalationOutcome, EscalationStep
from services.dispatch.domain.matching import MatchRequest, MatchResult, rank_candidates
from services.dispatch.domain.offers import OfferOutcome, OfferStep
from services.dispatch.domain.states import (
    AWAITING_VOLUNTEER,
    REQUEST_COMMAND_REJECTED,
    REQUEST_ESCALATED,
    REQUEST_NOTE_ADDED,
    REQUEST_PRIORITY_CHANGED,
    REQUEST_RECEIVED,
    TERMINAL_STATUSES,
    WITH_VOLUNTEER,
    Cancel,
    Command,
    EscalationLevel,
    Expire,
    GiveBack,
    Reassign,
    Reject,
    Rejection,
    RequestStatus,
    Resolve,
    StartMatching,
    StartWork,
    StatusEvent,
    Timer,
    TimerKind,
    apply,
    notice,
)
from services.dispatch.repository import (
    AREA_FIELD,
    ReferenceRepository,
    RequestRepository,
    TimerRepository,
    VersionConflict,
    VolunteerRepository,
)
from services.dispatch.settings import DispatchEngineSettings
from shared.contracts import Actor, EventEnvelope, RequestSubmittedV1
from shared.contracts import commands as c
from shared.mongo import Document

# Enough to recognise redeliveries, small enough to keep the document bounded.
PROCESSED_IDS_KEPT: Final = 500
SAVE_ATTEMPTS: Final = 20
EXCLUSIONS_KEPT: Final = 50
SYSTEM: Final = "system:dispatch"


@dataclass(frozen=True)
class Dispatch:
    """Everything a handler needs; `create` wires the real repositories."""

    requests: RequestRepository
    volunteers: VolunteerRepository
    reference: ReferenceRepository
    timers: TimerRepository
    settings: DispatchEngineSettings

    def __post_init__(self) -> None:
        lease = timedelta(seconds=self.settings.version_claim_lease_seconds)
        self.requests.claim_lease = lease
        self.volunteers.claim_lease = lease

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)


def now_ms() -> datetime:
    """The database keeps milliseconds; deciding with the same precision keeps timers comparable."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class Working:
    """One request being changed: a copy of its document, its domain state, and what follows from it."""

    def __init__(self, ctx: Dispatch, document: Document, now: datetime) -> None:
        self.ctx = ctx
        self.doc = document
        self.now = now
        self.state = aggregate.state_of(document)
        self.menu: Document = document.get("menu_item") or {}
        self.events: list[tuple[StatusEvent, str, Document]] = []
        self.timers: list[Timer] = []
        self.releases: list[str] = []
        self.reserved: set[str] = set()

    # -- recording -----------------------------------------------------------------------------
    def emit(self, events: Iterable[StatusEvent], message: str = "", detail: Document | None = None) -> None:
        self.events.extend((event, message, detail or {}) for event in events)

    def run(self, command: Command) -> bool:
        result = apply(self.state, command, at=self.now)
        if isinstance(result, Rejection):
            self.emit([result.event])
            return False
        self.state = result.state
        self.emit(result.events)
        return True

    def reject(self, command_type: str, by: str, problem: str, volunteer_id: str | None = None) -> None:
        event = notice(
            self.state,
            REQUEST_COMMAND_REJECTED,
            at=self.now,
            by=by,
            reason=problem,
            volunteer_id=volunteer_id,
            data={"command": command_type},
        )
        self.emit([event])

    def decide(self, kind: str, *, actor: str, reason: str, chosen: str | None = None, **extra: Any) -> None:
        self.doc.setdefault("decisions", []).append(
            {
                "at": self.now,
                "kind": kind,
                "level": self.state.level.wire_name,
                "chosen_volunteer_id": chosen,
                "reason": reason,
                "actor": actor,
                **extra,
            }
        )

    # -- policies ------------------------------------------------------------------------------
    def sla(self) -> escalation.SlaPolicy:
        return aggregate.sla_policy(self.menu)

    def rounds(self) -> offers.OfferRounds | None:
        return aggregate.rounds_of(self.doc)

    async def spare(self, volunteer_ids: Iterable[str]) -> dict[str, int]:
        found = await self.ctx.volunteers.by_ids(self.doc["district_id"], volunteer_ids)
        return aggregate.spare_capacity(found)

    # -- steps ---------------------------------------------------------------------------------
    async def take_offers(self, step: OfferStep) -> None:
        self.state = step.request
        self.emit(step.events)
        self.timers.extend(step.timers)
        self.doc["offer_rounds"] = aggregate.stored_rounds(step.rounds)
        tried = set(self.doc.get("tried_volunteer_ids", []))
        self.doc["tried_volunteer_ids"] = sorted(tried | set(step.request.offered_to))
        if step.outcome is OfferOutcome.EXHAUSTED:
            await self.take_escalation(escalation.escalate_when_exhausted(self.state, self.sla(), at=self.now))

    async def take_escalation(self, step: EscalationStep) -> None:
        self.state = step.request
        detail: Document = {}
        if step.outcome is EscalationOutcome.ESCALATED:
            field = AREA_FIELD[self.state.level]
            area = self.doc.get(field) if field else self.doc["district_id"]
            detail = {
                "responsible": await self.ctx.reference.responsible(self.doc["district_id"], self.state.level, area)
            }
            self.decide(
                "escalate", actor=step.events[-1].by, reason=step.events[-1].reason, to_level=self.state.level.wire_name
            )
        for event in step.events:
            self.emit([event], detail=detail if event.type == REQUEST_ESCALATED else None)
        self.timers.extend(step.timers)
        for timer in step.timers:
            if timer.kind is TimerKind.SLA_DEADLINE and timer.clock and timer.deadline_at:
                self.doc.setdefault("clocks", {})[timer.clock] = timer.deadline_at
        if step.outcome in (EscalationOutcome.ESCALATED, EscalationOutcome.REOPENED) and self.state.status in (
            RequestStatus.ESCALATED,
            RequestStatus.MATCHING,
        ):
            if step.outcome is EscalationOutcome.REOPENED:
                self.doc["tried_volunteer_ids"] = []
            await self.match(by=SYSTEM)

    async def match(self, *, by: str) -> MatchResult | None:
        """Rank the current level's candidates and offer; with nobody left, climb the ladder."""
        if self.state.status in (RequestStatus.SUBMITTED, RequestStatus.ESCALATED) and not self.run(
            StartMatching(by=by)
        ):
            return None
        field = AREA_FIELD[self.state.level]
        documents = await self.ctx.volunteers.candidates(
            district_id=self.doc["district_id"],
            level=self.state.level,
            area_id=self.doc.get(field) if field else None,
            required_skills=self.menu.get("required_skills") or [],
            language=(self.doc.get("resident") or {}).get("language"),
            linked_heart_id=self.doc.get("linked_heart_volunteer_id"),
            limit=self.ctx.settings.candidates_per_query,
        )
        request = MatchRequest(
            request_id=self.doc["_id"],
            place=aggregate.place_of(self.doc),
            level=self.state.level,
            required_skills=frozenset(self.menu.get("required_skills") or []),
            language=(self.doc.get("resident") or {}).get("language"),
            linked_heart_ids=frozenset(filter(None, [self.doc.get("linked_heart_volunteer_id")])),
            already_tried=frozenset(self.doc.get("tried_volunteer_ids", [])),
        )
        result = rank_candidates(request, map(aggregate.volunteer_of, documents), at=self.now, local_tz=self.ctx.tz)
        previous = self.rounds()
        step = offers.start_offers(
            self.state,
            result.candidate_ids,
            aggregate.offer_policy(self.menu, self.ctx.settings),
            at=self.now,
            spare_capacity=aggregate.spare_capacity({d["_id"]: d for d in documents}),
            generation=previous.generation + 1 if previous else 1,
            by=by,
        )
        self.decide(
            "match",
            actor=by,
            reason="ranked candidates at this level; offered in order"
            if result.ranked
            else "no eligible volunteer at this level",
            chosen=None,
            offered=sorted(step.request.offered_to - self.state.offered_to),
            candidates=[
                {"rank": c.rank, "volunteer_id": c.volunteer_id, "explanation": c.explanation} for c in result.ranked
            ],
            excluded=[
                {
                    "volunteer_id": e.volunteer_id,
                    "codes": [code.value for code in e.codes],
                    "explanation": e.explanation,
                }
                for e in result.excluded[:EXCLUSIONS_KEPT]
            ],
        )
        await self.take_offers(step)
        return result

    # -- finishing -----------------------------------------------------------------------------
    def finish(self, processed_id: str | None, *, timer_id: str | None = None) -> None:
        doc = self.doc
        aggregate.store_state(doc, self.state)
        envelopes = [aggregate.envelope_of(doc, e, message=m, detail=d) for e, m, d in self.events]
        timers = [aggregate.timer_document(doc, t) for t in self.timers]
        doc["timeline"] = [*doc.get("timeline", []), *envelopes]
        doc["outbox"] = [*doc.get("outbox", []), *envelopes]
        doc["timers_pending"] = [*doc.get("timers_pending", []), *timers]
        doc["releases_pending"] = sorted({*doc.get("releases_pending", []), *self.releases})
        doc["outbox_pending"] = bool(doc["outbox"] or doc["timers_pending"] or doc["releases_pending"])
        doc["updated_at"] = self.now
        clocks = doc.get("clocks") or {}
        if self.state.status in AWAITING_VOLUNTEER:
            doc["sla_due_at"] = clocks.get("accept")
        elif self.state.status in WITH_VOLUNTEER:
            doc["sla_due_at"] = clocks.get("resolve")
        else:
            doc["sla_due_at"] = None
        if processed_id:
            doc["processed_event_ids"] = [*doc.get("processed_event_ids", []), processed_id][-PROCESSED_IDS_KEPT:]
        if timer_id:
            doc["fired_timer_ids"] = [*doc.get("fired_timer_ids", []), timer_id]


Decide = Callable[[Working], Awaitable[bool]]


async def _change(
    ctx: Dispatch, request_id: str, dedupe_id: str | None, decide: Decide, now: datetime, *, timer_id: str | None = None
) -> Document | None:
    """Load, decide, save with optimistic concurrency; `decide` returns False when nothing changes."""
    reserved: set[str] = set()
    try:
        for _ in range(SAVE_ATTEMPTS):
            document = await ctx.requests.get(request_id)
            if document is None:
                return None
            if dedupe_id and dedupe_id in document.get("processed_event_ids", []):
                return document
            if timer_id and timer_id in document.get("fired_timer_ids", []):
                return document
            work = Working(ctx, document, now)
            changed = await decide(work)
            reserved |= work.reserved
            if not changed:
                return None
            work.finish(dedupe_id, timer_id=timer_id)
            if await ctx.requests.save(work.doc):
                reserved -= {work.doc.get("assigned_volunteer_id") or ""}
                return work.doc
        raise VersionConflict(request_id)
    finally:
        # A reservation taken for an accept that did not end up saved must not hold a slot.
        for volunteer_id in reserved:
            await ctx.volunteers.release(volunteer_id, request_id)


# -- submission ---------------------------------------------------------------------------------


async def handle_submitted(ctx: Dispatch, envelope: EventEnvelope, data: RequestSubmittedV1, now: datetime) -> Document:
    """Create the request and start matching it, or return the stored one when this is a redelivery.

    No read before the insert: looking up a new id is a miss, which on FerretDB v1 reads every request
    ever stored. The match only reads, so a redelivery costs one match and a failed insert (the
    duplicate `_id`), then returns what is stored.
    """
    grid = await ctx.reference.grid(envelope.district_id, data.grid_id) or {}
    community_id = data.community_id or grid.get("community_id")
    menu_item = (
        await ctx.reference.menu_item(envelope.district_id, community_id, data.menu_item_code) if community_id else None
    )
    document: Document = {
        "_id": envelope.request,
        "district_id": envelope.district_id,
        "street_office_id": data.street_office_id or grid.get("street_office_id"),
        "community_id": community_id,
        "grid_id": data.grid_id,
        "menu_item_code": data.menu_item_code,
        "menu_item": _menu_snapshot(menu_item) if menu_item else {},
        "urgency": (menu_item or {}).get("urgency", "normal"),
        "status": RequestStatus.SUBMITTED.value,
        "level": EscalationLevel.GRID.wire_name,
        "priority": data.priority or (menu_item or {}).get("urgency", "normal"),
        "resident": {
            "name": data.resident_name,
            "phone": data.resident_phone,
            "language": data.resident_language,
            "id": data.resident_id,
        },
        "linked_heart_volunteer_id": data.linked_heart_volunteer_id,
        "text": data.text,
        "attributes": data.attributes,
        "submitted_by": data.submitted_by.model_dump() if data.submitted_by else None,
        "submitted_at": envelope.time,
        "created_at": now,
        "updated_at": now,
        "assigned_volunteer_id": None,
        "offered_volunteer_ids": [],
        "accept_due_at": None,
        "resolve_due_at": None,
        "sla_due_at": None,
        "redo_count": 0,
        "rating": None,
        "notes": [],
        "decisions": [],
        "timeline": [],
        "version": 1,
        "sequence": 0,
        "processed_event_ids": [],
        "fired_timer_ids": [],
        "outbox": [],
        "timers_pending": [],
        "releases_pending": [],
    }
    work = Working(ctx, document, now)
    by = data.submitted_by.label() if data.submitted_by else SYSTEM
    work.emit([notice(work.state, REQUEST_RECEIVED, at=now, by=by)], message="request received")
    if menu_item is None:
        work.run(Reject(by=SYSTEM, reason=f"menu item {data.menu_item_code!r} is not on the menu"))
    else:
        work.run(StartMatching(by=SYSTEM))
        await work.take_escalation(
            EscalationStep(
                work.state,
                EscalationOutcome.WARNED,
                timers=escalation.clock_timers(work.state, work.sla(), started_at=now),
            )
        )
        await work.match(by=SYSTEM)
    document["accept_due_at"] = (document.get("clocks") or {}).get("accept")
    document["resolve_due_at"] = (document.get("clocks") or {}).get("resolve")
    work.finish(envelope.id)
    if not await ctx.requests.create(document):
        # A redelivery, or another replica created it first: the stored one is the truth.
        stored = await ctx.requests.get(envelope.request)
        assert stored is not None
        return stored
    return document


def _menu_snapshot(item: Document) -> Document:
    """The item's matching and SLA terms at submission: later menu edits do not change a running request."""
    keys = ("code", "urgency", "required_skills", "deadlines", "offer_timeout_seconds", "widen_every_seconds")
    return {key: item[key] for key in (*keys, "first_round", "widen_by") if key in item}


# -- commands -------------------------------------------------------------------------------------


async def handle_command(ctx: Dispatch, envelope: EventEnvelope, data: Any, now: datetime) -> Document | None:
    """Apply one command; an illegal one is answered with `request.command_rejected` and the reason."""

    async def decide(work: Working) -> bool:
        await _command(work, envelope.type, data)
        return True

    return await _change(ctx, envelope.request, envelope.id, decide, now)


async def _command(work: Working, command_type: str, data: Any) -> None:
    actor: Actor = data.actor
    by = actor.label()
    volunteer_id: str | None = getattr(data, "volunteer_id", None)
    if (
        command_type in c.COMMAND_PAYLOADS
        and actor.role == "volunteer"
        and volunteer_id
        and actor.subject != volunteer_id
    ):
        work.reject(command_type, by, "a volunteer may only answer for themselves", volunteer_id)
        return
    state = work.state
    match command_type:
        case c.OFFER_ACCEPT:
            rounds = work.rounds()
            if rounds is None or data.volunteer_id not in state.offered_to:
                work.reject(command_type, by, f"volunteer {data.volunteer_id} holds no open offer", data.volunteer_id)
                return
            reserved = await work.ctx.volunteers.reserve(
                work.doc["district_id"], data.volunteer_id, state.request_id, work.now
            )
            if reserved:
                work.reserved.add(data.volunteer_id)
            step = offers.accept_offer(
                state, rounds, data.volunteer_id, at=work.now, spare_capacity={data.volunteer_id: int(reserved)}, by=by
            )
            await work.take_offers(step)
            if step.outcome is OfferOutcome.ASSIGNED:
                work.doc["assigned_at"] = work.now
                work.decide("accept", actor=by, reason="first to accept the offer", chosen=data.volunteer_id)
        case c.OFFER_DECLINE:
            rounds = work.rounds()
            if rounds is None:
                work.reject(command_type, by, f"volunteer {data.volunteer_id} holds no open offer", data.volunteer_id)
                return
            spare = await work.spare(rounds.remaining)
            await work.take_offers(
                offers.decline_offer(state, rounds, data.volunteer_id, at=work.now, spare_capacity=spare, by=by)
            )
        case c.WORK_START:
            work.run(StartWork(volunteer_id=data.volunteer_id, by=by, reason=data.note))
        case c.WORK_COMPLETE:
            if work.run(Resolve(volunteer_id=data.volunteer_id, by=by, reason=data.note)):
                work.releases.append(data.volunteer_id)
        case c.WORK_CANNOT_COMPLETE:
            if work.run(GiveBack(volunteer_id=data.volunteer_id, by=by, reason=data.note or "cannot complete")):
                work.releases.append(data.volunteer_id)
                await work.match(by=by)
        case c.REQUEST_CANCEL:
            holder = state.assignee_id if state.status in WITH_VOLUNTEER else None
            if work.run(Cancel(by=by, reason=data.reason)) and holder:
                work.releases.append(holder)
        case c.REQUEST_RATE:
            work.doc["rating"] = {"stars": data.stars, "comment": data.comment}
            rated = escalation.rate(state, data.stars, work.sla(), at=work.now, by=by)
            if rated.outcome is EscalationOutcome.REJECTED:
                work.doc["rating"] = None
            await work.take_escalation(rated)
        case c.REQUEST_REPORT_NOT_DONE:
            await work.take_escalation(
                escalation.report_not_done(
                    state, work.sla(), at=work.now, by=by, reason=data.reason or "not actually done"
                )
            )
        case c.REQUEST_ADD_NOTE:
            work.doc.setdefault("notes", []).append({"at": work.now, "by": by, "text": data.text})
            work.emit([notice(state, REQUEST_NOTE_ADDED, at=work.now, by=by)], message=data.text[:500])
        case c.OPERATOR_CHANGE_PRIORITY:
            work.doc["priority"] = data.priority
            work.emit(
                [
                    notice(
                        state,
                        REQUEST_PRIORITY_CHANGED,
                        at=work.now,
                        by=by,
                        reason=data.reason,
                        data={"priority": data.priority},
                    )
                ]
            )
        case c.OPERATOR_ESCALATE:
            await work.take_escalation(
                escalation.escalate(
                    state, work.sla(), at=work.now, by=by, reason=data.reason or "escalated by operator"
                )
            )
        case c.OPERATOR_REASSIGN:
            await _reassign(work, data, by)
        case c.OPERATOR_CLOSE:
            if state.status in WITH_VOLUNTEER:
                holder = state.assignee_id
                if work.run(Resolve(by=by, reason=data.reason or "closed by operator")) and holder:
                    work.releases.append(holder)
            else:
                work.run(Expire(by=by, reason=data.reason or "closed by operator"))
        case _:
            work.reject(command_type, by, f"dispatch does not handle {command_type!r}")


async def _reassign(work: Working, data: c.ReassignV1, by: str) -> None:
    state = work.state
    holder = state.assignee_id if state.status in WITH_VOLUNTEER else None
    if data.volunteer_id is None:
        if holder is None:
            if state.status in AWAITING_VOLUNTEER and not state.offered_to:
                await work.match(by=by)
            else:
                work.reject(c.OPERATOR_REASSIGN, by, f"cannot match again a request that is {state.status.value}")
            return
        if work.run(GiveBack(by=by, reason=data.reason or "taken back by operator")):
            work.releases.append(holder)
            work.decide("override", actor=by, reason=data.reason or "match again", previous_volunteer_id=holder)
            await work.match(by=by)
        return
    target = data.volunteer_id
    if state.status in TERMINAL_STATUSES or state.status is RequestStatus.RESOLVED:
        work.reject(c.OPERATOR_REASSIGN, by, f"cannot reassign a request that is {state.status.value}", target)
        return
    if target != holder:
        if not await work.ctx.volunteers.reserve(work.doc["district_id"], target, state.request_id, work.now):
            work.reject(c.OPERATOR_REASSIGN, by, f"volunteer {target} is unknown, inactive or at capacity", target)
            return
        work.reserved.add(target)
    if work.run(Reassign(volunteer_id=target, by=by, reason=data.reason)):
        if holder:
            work.releases.append(holder)
        work.doc["assigned_at"] = work.now
        work.decide(
            "override",
            actor=by,
            reason=data.reason or "reassigned by operator",
            chosen=target,
            previous_volunteer_id=holder,
        )


# -- timers and re-matching -----------------------------------------------------------------------


async def handle_timer(ctx: Dispatch, stored: Document, now: datetime) -> Document | None:
    """Fire one claimed timer through the same save path; its id makes a second firing a no-op."""
    timer = aggregate.timer_of(stored)

    async def decide(work: Working) -> bool:
        if timer.kind in (TimerKind.OFFER_TIMEOUT, TimerKind.OFFER_WIDEN):
            rounds = work.rounds()
            if rounds is None:
                return False
            spare = await work.spare(rounds.remaining)
            step = offers.on_offer_timer(work.state, rounds, timer, at=work.now, spare_capacity=spare)
            if step.outcome is OfferOutcome.STALE:
                return False
            await work.take_offers(step)
            return True
        step_sla = escalation.on_sla_timer(work.state, timer, work.sla(), at=work.now)
        if step_sla.outcome is EscalationOutcome.STALE:
            return False
        await work.take_escalation(step_sla)
        return True

    return await _change(ctx, timer.request_id, None, decide, now, timer_id=stored["_id"])


async def rematch(ctx: Dispatch, request_id: str, now: datetime, *, by: str = SYSTEM) -> Document | None:
    """Offer a waiting request again (a volunteer became free or was added); saves only on progress."""

    async def decide(work: Working) -> bool:
        if work.state.status not in AWAITING_VOLUNTEER or work.state.offered_to:
            return False
        level, tried = work.state.level, list(work.doc.get("tried_volunteer_ids", []))
        result = await work.match(by=by)
        progressed = bool(work.state.offered_to) or work.state.level != level
        if not progressed:
            work.doc["tried_volunteer_ids"] = tried
        return progressed and result is not None

    return await _change(ctx, request_id, None, decide, now)
