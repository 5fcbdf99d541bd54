"""What dispatch does with each message: a submission, one handler per command, a due timer, a re-match.

Handlers are synchronous and in memory: they change the `Request` aggregate through the pure domain,
with the district's roster and the cached reference data at hand (`Deciding`). The owner of the
district persists and publishes what changed (see `district.py` and `owner.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Final, TypeVar

from services.dispatch import service_record
from services.dispatch.domain import escalation, offers
from services.dispatch.domain.escalation import EscalationOutcome, EscalationStep
from services.dispatch.domain.matching import MatchRequest, MatchResult, Place, rank_candidates
from services.dispatch.domain.offers import OfferOutcome
from services.dispatch.domain.roster import Roster
from services.dispatch.domain.states import (
    AWAITING_VOLUNTEER,
    REQUEST_ESCALATED,
    REQUEST_NOTE_ADDED,
    REQUEST_PRIORITY_CHANGED,
    REQUEST_RECEIVED,
    REQUEST_SLA_WARNING,
    TERMINAL_STATUSES,
    WITH_VOLUNTEER,
    Cancel,
    Expire,
    GiveBack,
    Reassign,
    Reject,
    RequestState,
    RequestStatus,
    Resolve,
    StartMatching,
    StartWork,
    Timer,
    TimerKind,
    notice,
)
from services.dispatch.reference import Keys, ReferenceCache
from services.dispatch.request import EXCLUSIONS_KEPT, SYSTEM, MenuTerms, OfferDefaults, Request, offer_policy
from shared.contracts import EventEnvelope, RequestSubmitted
from shared.contracts import commands as c
from shared.contracts.commands import Command

EXCLUSIONS_SHOWN: Final = EXCLUSIONS_KEPT


@dataclass(frozen=True)
class Rules:
    offers: OfferDefaults
    candidates_wanted: int = 10
    scan_limit: int = 2000


@dataclass
class Deciding:
    """What a handler may consult besides the request: the district's roster, reference data, the clock."""

    roster: Roster
    reference: ReferenceCache
    rules: Rules
    tz: tzinfo
    now: datetime


# -- matching and the ladder -----------------------------------------------------------------------


def match(request: Request, ctx: Deciding, *, by: str) -> MatchResult | None:
    """Rank the current level's candidates and offer; with nobody left, climb the ladder."""
    if request.status in (RequestStatus.SUBMITTED, RequestStatus.ESCALATED) and not request.run(
        StartMatching(by=by), ctx.now
    ):
        return None
    wanted = MatchRequest(
        request_id=request.id,
        place=request.place,
        level=request.state.level,
        required_skills=frozenset(request.menu.required_skills),
        language=request.resident.get("language"),
        linked_heart_ids=frozenset(filter(None, [request.linked_heart_id])),
        already_tried=frozenset(request.tried),
    )
    shortlist = ctx.roster.shortlist(
        wanted, at=ctx.now, local_tz=ctx.tz, want=ctx.rules.candidates_wanted, scan_limit=ctx.rules.scan_limit
    )
    result = rank_candidates(wanted, shortlist.volunteers, at=ctx.now, local_tz=ctx.tz)
    generation = request.rounds.generation + 1 if request.rounds else 1
    step = offers.start_offers(
        request.state,
        result.candidate_ids,
        offer_policy(request.menu, request.priority, ctx.rules.offers),
        at=ctx.now,
        spare_capacity={v.volunteer_id: v.spare for v in shortlist.volunteers},
        generation=generation,
        by=by,
    )
    request.decide(
        "match",
        at=ctx.now,
        actor=by,
        reason="ranked candidates at this level; offered in order"
        if result.ranked
        else "no eligible volunteer at this level",
        offered=sorted(step.request.offered_to - request.state.offered_to),
        scanned=shortlist.scanned,
        candidates=[
            {"rank": x.rank, "volunteer_id": x.volunteer_id, "explanation": x.explanation} for x in result.ranked
        ],
        excluded=[
            {"volunteer_id": e.volunteer_id, "codes": [code.value for code in e.codes], "explanation": e.explanation}
            for e in result.excluded[:EXCLUSIONS_SHOWN]
        ],
    )
    take_offers(request, step, ctx)
    return result


def take_offers(request: Request, step: offers.OfferStep, ctx: Deciding) -> None:
    request.take_offers(step)
    if step.outcome is not OfferOutcome.EXHAUSTED:
        return
    if len(step.rounds.candidates) >= ctx.rules.candidates_wanted:
        # The shortlist was cut at `candidates_wanted`: more may be eligible at this level; ask them first.
        match(request, ctx, by=SYSTEM)
        return
    take_escalation(request, escalation.escalate_when_exhausted(request.state, request.sla(), at=ctx.now), ctx)


def take_escalation(request: Request, step: EscalationStep, ctx: Deciding) -> None:
    """Record an escalation step (naming whom to page), restart clocks, and match at the new level."""
    request.state = step.request
    for event in step.events:
        detail: dict[str, Any] = {}
        if event.type in (REQUEST_ESCALATED, REQUEST_SLA_WARNING):
            detail["responsible"] = ctx.reference.responsible(request.state.level, request.place)
        request.emit([event], detail=detail)
    if step.outcome is EscalationOutcome.ESCALATED:
        last = step.events[-1]
        request.decide(
            "escalate", at=ctx.now, actor=last.by, reason=last.reason, to_level=request.state.level.wire_name
        )
    request.take_clocks(step, ctx.now)
    if step.outcome in (EscalationOutcome.ESCALATED, EscalationOutcome.REOPENED) and request.status in (
        RequestStatus.ESCALATED,
        RequestStatus.MATCHING,
    ):
        if step.outcome is EscalationOutcome.REOPENED:
            request.tried = set()
        match(request, ctx, by=SYSTEM)


# -- submission ------------------------------------------------------------------------------------


def refuse_submission(envelope: EventEnvelope, data: RequestSubmitted, ctx: Deciding, reason: str) -> Request:
    """The request as `rejected`, with the reason, when its submission cannot be applied at all."""
    request = _new_request(envelope, data, ctx, MenuTerms(code=data.menu_item_code), {}, data.community_id or "")
    request.emit([notice(request.state, REQUEST_RECEIVED, at=ctx.now, by=SYSTEM)], message="request received")
    request.run(Reject(by=SYSTEM, reason=reason), ctx.now)
    request.processed_event(envelope.id)
    return request


def submit(
    envelope: EventEnvelope, data: RequestSubmitted, ctx: Deciding, *, default_menu: MenuTerms | None = None
) -> Request:
    """Create the request from its submission and start matching it (or reject an item not on the menu).

    `default_menu`: the terms of work dispatch creates itself (scheduled care) when the menu lacks its item."""
    district_id, now = envelope.district_id, ctx.now
    grid = ctx.reference.get(Keys.grid(district_id, data.grid_id)) or {}
    community_id = data.community_id or grid.get("community_id") or ""
    item = ctx.reference.get(Keys.menu_item(district_id, community_id, data.menu_item_code)) if community_id else None
    if item is not None and (item.get("community_id") != community_id or item.get("code") != data.menu_item_code):
        item = None
    if item is None and default_menu is not None:
        item = default_menu.stored()
    menu = MenuTerms.of(item) if item else MenuTerms(code=data.menu_item_code)
    request = _new_request(envelope, data, ctx, menu, grid, community_id)
    by = data.submitted_by.label() if data.submitted_by else SYSTEM
    request.emit([notice(request.state, REQUEST_RECEIVED, at=now, by=by)], message="request received")
    if item is None:
        request.run(Reject(by=SYSTEM, reason=f"menu item {data.menu_item_code!r} is not on the menu"), now)
    else:
        request.run(StartMatching(by=SYSTEM), now)
        timers = escalation.clock_timers(request.state, request.sla(), started_at=now)
        take_escalation(request, EscalationStep(request.state, EscalationOutcome.WARNED, timers=timers), ctx)
        match(request, ctx, by=SYSTEM)
    request.processed_event(envelope.id)
    return request


def _new_request(
    envelope: EventEnvelope,
    data: RequestSubmitted,
    ctx: Deciding,
    menu: MenuTerms,
    grid: dict[str, Any],
    community_id: str,
) -> Request:
    district_id, now = envelope.district_id, ctx.now
    return Request(
        id=envelope.request,
        district_id=district_id,
        place=_place(district_id, data, grid, community_id),
        menu=menu,
        priority=data.priority or menu.urgency,
        resident={
            "name": data.resident_name,
            "phone": data.resident_phone,
            "language": data.resident_language,
            "id": data.resident_id,
        },
        linked_heart_id=data.linked_heart_volunteer_id,
        text=data.text,
        attributes=data.attributes,
        submitted_by=data.submitted_by.model_dump() if data.submitted_by else None,
        submitted_at=envelope.time,
        created_at=now,
        updated_at=now,
        state=RequestState(envelope.request),
    )


def _place(district_id: str, data: RequestSubmitted, grid: dict[str, Any], community_id: str) -> Place:
    return Place(district_id, data.street_office_id or grid.get("street_office_id") or "", community_id, data.grid_id)


# -- commands --------------------------------------------------------------------------------------


def refuse(request: Request, command: Command, ctx: Deciding, problem: str, volunteer_id: str | None = None) -> None:
    """Answer a command that is not legal now with `request.command_rejected` and the reason."""
    request.reject(
        command.command_type, by=command.actor.label(), problem=problem, at=ctx.now, volunteer_id=volunteer_id
    )


C = TypeVar("C", bound=Command)
Handler = Callable[[Request, Any, Deciding], None]
COMMAND_HANDLERS: dict[type[Command], Handler] = {}


def handles(
    command: type[C],
) -> Callable[[Callable[[Request, C, Deciding], None]], Callable[[Request, C, Deciding], None]]:
    def register(handler: Callable[[Request, C, Deciding], None]) -> Callable[[Request, C, Deciding], None]:
        COMMAND_HANDLERS[command] = handler
        return handler

    return register


def handle_command(request: Request, command: Command, ctx: Deciding) -> None:
    """Apply one command; an illegal one is answered with `request.command_rejected` and the reason."""
    volunteer_id = getattr(command, "volunteer_id", None)
    if command.actor.role == "volunteer" and volunteer_id and command.actor.subject != volunteer_id:
        refuse(request, command, ctx, "a volunteer may only answer for themselves")
        return
    handler = COMMAND_HANDLERS.get(type(command))
    if handler is None:
        refuse(request, command, ctx, f"dispatch does not handle {command.command_type!r}")
        return
    handler(request, command, ctx)


@handles(c.AcceptOfferV1)
def accept_offer(request: Request, command: c.AcceptOfferV1, ctx: Deciding) -> None:
    by, volunteer_id = command.actor.label(), command.volunteer_id
    if request.rounds is None or volunteer_id not in request.state.offered_to:
        refuse(request, command, ctx, f"volunteer {volunteer_id} holds no open offer", volunteer_id=volunteer_id)
        return
    spare = {volunteer_id: ctx.roster.spare(volunteer_id)}
    step = offers.accept_offer(request.state, request.rounds, volunteer_id, at=ctx.now, spare_capacity=spare, by=by)
    take_offers(request, step, ctx)
    if step.outcome is OfferOutcome.ASSIGNED:
        request.assigned_at = ctx.now
        request.decide("accept", at=ctx.now, actor=by, reason="first to accept the offer", chosen=volunteer_id)


@handles(c.DeclineOfferV1)
def decline_offer(request: Request, command: c.DeclineOfferV1, ctx: Deciding) -> None:
    by = command.actor.label()
    if request.rounds is None:
        refuse(
            request,
            command,
            ctx,
            f"volunteer {command.volunteer_id} holds no open offer",
            volunteer_id=command.volunteer_id,
        )
        return
    spare = {v: ctx.roster.spare(v) for v in request.rounds.remaining}
    step = offers.decline_offer(
        request.state, request.rounds, command.volunteer_id, at=ctx.now, spare_capacity=spare, by=by
    )
    take_offers(request, step, ctx)


@handles(c.StartWorkV1)
def start_work(request: Request, command: c.StartWorkV1, ctx: Deciding) -> None:
    request.run(StartWork(volunteer_id=command.volunteer_id, by=command.actor.label(), reason=command.note), ctx.now)


@handles(c.CompleteWorkV1)
def complete_work(request: Request, command: c.CompleteWorkV1, ctx: Deciding) -> None:
    if request.run(Resolve(volunteer_id=command.volunteer_id, by=command.actor.label(), reason=command.note), ctx.now):
        request.resolved_at = ctx.now


@handles(c.CannotCompleteWorkV1)
def cannot_complete_work(request: Request, command: c.CannotCompleteWorkV1, ctx: Deciding) -> None:
    by = command.actor.label()
    if request.run(
        GiveBack(volunteer_id=command.volunteer_id, by=by, reason=command.note or "cannot complete"), ctx.now
    ):
        match(request, ctx, by=by)


@handles(c.EditServiceHoursV1)
def edit_service_hours(request: Request, command: c.EditServiceHoursV1, ctx: Deciding) -> None:
    """Within limits (service_record.check_hours_edit), kept with who, when and why: the record reads it."""
    by, volunteer_id = command.actor.label(), command.volunteer_id
    problem = service_record.check_hours_edit(request, volunteer_id, command.minutes, ctx.now)
    if problem is not None:
        refuse(request, command, ctx, problem, volunteer_id=volunteer_id)
        return
    cycle = service_record.work_of(request)[-1].cycle
    edit = {"cycle": cycle, "minutes": command.minutes, "reason": command.reason, "at": ctx.now, "by": by}
    request.hours_edits.append(edit)
    request.decide(
        "hours_edit", at=ctx.now, actor=by, reason=command.reason, chosen=volunteer_id, minutes=command.minutes
    )
    request.changed = True


@handles(c.CancelRequestV1)
def cancel(request: Request, command: c.CancelRequestV1, ctx: Deciding) -> None:
    request.run(Cancel(by=command.actor.label(), reason=command.reason), ctx.now)


@handles(c.RateRequestV1)
def rate(request: Request, command: c.RateRequestV1, ctx: Deciding) -> None:
    by = command.actor.label()
    cycle = request.state.redo_count
    step = escalation.rate(request.state, command.stars, request.sla(), at=ctx.now, by=by)
    if step.outcome is not EscalationOutcome.REJECTED:
        request.ratings.append(
            {"cycle": cycle, "stars": command.stars, "comment": command.comment, "at": ctx.now, "by": by}
        )
    take_escalation(request, step, ctx)


@handles(c.ReportNotDoneV1)
def report_not_done(request: Request, command: c.ReportNotDoneV1, ctx: Deciding) -> None:
    step = escalation.report_not_done(
        request.state, request.sla(), at=ctx.now, by=command.actor.label(), reason=command.reason or "not actually done"
    )
    take_escalation(request, step, ctx)


@handles(c.AddNoteV1)
def add_note(request: Request, command: c.AddNoteV1, ctx: Deciding) -> None:
    by = command.actor.label()
    request.notes.append({"at": ctx.now, "by": by, "text": command.text})
    request.emit([notice(request.state, REQUEST_NOTE_ADDED, at=ctx.now, by=by)], message=command.text[:500])


@handles(c.ChangePriorityV1)
def change_priority(request: Request, command: c.ChangePriorityV1, ctx: Deciding) -> None:
    """Priority paces the clocks, picks the offer policy and orders re-matching."""
    by = command.actor.label()
    request.priority = command.priority
    data = {"priority": command.priority}
    request.emit([notice(request.state, REQUEST_PRIORITY_CHANGED, at=ctx.now, by=by, reason=command.reason, data=data)])
    if request.status not in TERMINAL_STATUSES and request.status is not RequestStatus.RESOLVED:
        request.restart_clocks()


@handles(c.EscalateV1)
def escalate(request: Request, command: c.EscalateV1, ctx: Deciding) -> None:
    step = escalation.escalate(
        request.state,
        request.sla(),
        at=ctx.now,
        by=command.actor.label(),
        reason=command.reason or "escalated by operator",
    )
    take_escalation(request, step, ctx)


@handles(c.CloseV1)
def close(request: Request, command: c.CloseV1, ctx: Deciding) -> None:
    by, reason = command.actor.label(), command.reason or "closed by operator"
    if request.status in WITH_VOLUNTEER:
        if request.run(Resolve(by=by, reason=reason), ctx.now):
            request.resolved_at = ctx.now
    else:
        request.run(Expire(by=by, reason=reason), ctx.now)


@handles(c.ReassignV1)
def reassign(request: Request, command: c.ReassignV1, ctx: Deciding) -> None:
    by, state = command.actor.label(), request.state
    holder = request.holder
    if command.volunteer_id is None:
        if holder is None:
            if state.status in AWAITING_VOLUNTEER and not state.offered_to:
                match(request, ctx, by=by)
            else:
                refuse(request, command, ctx, f"cannot match again a request that is {state.status.value}")
            return
        if request.run(GiveBack(by=by, reason=command.reason or "taken back by operator"), ctx.now):
            request.decide(
                "override", at=ctx.now, actor=by, reason=command.reason or "match again", previous_volunteer_id=holder
            )
            match(request, ctx, by=by)
        return
    target = command.volunteer_id
    if state.status in TERMINAL_STATUSES or state.status is RequestStatus.RESOLVED:
        refuse(request, command, ctx, f"cannot reassign a request that is {state.status.value}", volunteer_id=target)
        return
    volunteer = ctx.roster.get(target)
    if target != holder and (volunteer is None or not volunteer.active or volunteer.spare <= 0):
        refuse(request, command, ctx, f"volunteer {target} is unknown, inactive or at capacity", volunteer_id=target)
        return
    if request.run(Reassign(volunteer_id=target, by=by, reason=command.reason), ctx.now):
        request.assigned_at = ctx.now
        request.decide(
            "override",
            at=ctx.now,
            actor=by,
            reason=command.reason or "reassigned by operator",
            chosen=target,
            previous_volunteer_id=holder,
        )


# -- timers and re-matching ------------------------------------------------------------------------


def fire_timer(request: Request, timer: Timer, ctx: Deciding) -> None:
    """A due offer timeout, widening tick, SLA warning or deadline; a stale one changes nothing visible."""
    if timer.kind in (TimerKind.OFFER_TIMEOUT, TimerKind.OFFER_WIDEN):
        if request.rounds is None:
            return
        spare = {v: ctx.roster.spare(v) for v in request.rounds.remaining}
        step = offers.on_offer_timer(request.state, request.rounds, timer, at=ctx.now, spare_capacity=spare)
        if step.outcome is not OfferOutcome.STALE:
            take_offers(request, step, ctx)
        return
    step_sla = escalation.on_sla_timer(request.state, timer, request.sla(), at=ctx.now)
    if step_sla.outcome is not EscalationOutcome.STALE:
        take_escalation(request, step_sla, ctx)


def rematch(request: Request, ctx: Deciding) -> bool:
    """Offer a waiting request again (a volunteer became free or joined); True when it moved on."""
    if not request.waiting:
        return False
    level = request.state.level
    snapshot = request.snapshot()
    match(request, ctx, by=SYSTEM)
    if request.state.offered_to or request.state.level != level:
        return True
    # Nobody new: keep the request as it was, so that an idle re-match writes nothing.
    request.restore(snapshot)
    return False
