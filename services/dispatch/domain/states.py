"""Request status machine: one transition table; commands in, status events (or a rejection) out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import ClassVar, Final, TypeAlias

# The wire names of status events are the contract's; the domain reuses them rather than repeating strings.
from shared.contracts.requests import REQUEST_SUBMITTED
from shared.contracts.status import (
    REQUEST_ASSIGNED,
    REQUEST_CANCELLED,
    REQUEST_COMMAND_REJECTED,
    REQUEST_ESCALATED,
    REQUEST_EXPIRED,
    REQUEST_MATCHING,
    REQUEST_NOTE_ADDED,
    REQUEST_OFFER_DECLINED,
    REQUEST_OFFER_EXPIRED,
    REQUEST_OFFER_WITHDRAWN,
    REQUEST_OFFERED,
    REQUEST_PRIORITY_CHANGED,
    REQUEST_RATED,
    REQUEST_RECEIVED,
    REQUEST_REJECTED,
    REQUEST_REOPENED,
    REQUEST_RESOLVED,
    REQUEST_SLA_BREACHED,
    REQUEST_SLA_WARNING,
    REQUEST_STARTED,
    REQUEST_UNASSIGNED,
    REQUEST_UNMATCHED,
)

__all__ = [
    "REQUEST_ASSIGNED",
    "REQUEST_CANCELLED",
    "REQUEST_COMMAND_REJECTED",
    "REQUEST_ESCALATED",
    "REQUEST_EXPIRED",
    "REQUEST_MATCHING",
    "REQUEST_NOTE_ADDED",
    "REQUEST_OFFERED",
    "REQUEST_OFFER_DECLINED",
    "REQUEST_OFFER_EXPIRED",
    "REQUEST_OFFER_WITHDRAWN",
    "REQUEST_PRIORITY_CHANGED",
    "REQUEST_RATED",
    "REQUEST_RECEIVED",
    "REQUEST_REJECTED",
    "REQUEST_REOPENED",
    "REQUEST_RESOLVED",
    "REQUEST_SLA_BREACHED",
    "REQUEST_SLA_WARNING",
    "REQUEST_STARTED",
    "REQUEST_SUBMITTED",
    "REQUEST_UNASSIGNED",
    "REQUEST_UNMATCHED",
]


class RequestStatus(StrEnum):
    SUBMITTED = "submitted"
    MATCHING = "matching"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    RATED = "rated"
    ESCALATED = "escalated"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"


# A rated request can still be reopened as a redo (重办), which starts a new, separately counted cycle.
TERMINAL_STATUSES: Final = frozenset(
    {RequestStatus.RATED, RequestStatus.CANCELLED, RequestStatus.REJECTED, RequestStatus.EXPIRED}
)
AWAITING_VOLUNTEER: Final = frozenset(
    {RequestStatus.SUBMITTED, RequestStatus.MATCHING, RequestStatus.OFFERED, RequestStatus.ESCALATED}
)
WITH_VOLUNTEER: Final = frozenset({RequestStatus.ASSIGNED, RequestStatus.IN_PROGRESS})


class EscalationLevel(IntEnum):
    GRID = 0
    COMMUNITY = 1
    STREET = 2
    DISTRICT = 3

    @property
    def wire_name(self) -> str:
        return self.name.lower()


def next_level(level: EscalationLevel) -> EscalationLevel | None:
    """The level above, or None at the district (the top of the ladder)."""
    return None if level is EscalationLevel.DISTRICT else EscalationLevel(level + 1)


RESPONSIBLE_ROLE: Final[Mapping[EscalationLevel, str]] = {
    EscalationLevel.GRID: "team_captain",
    EscalationLevel.COMMUNITY: "community_director",
    EscalationLevel.STREET: "street_office",
    EscalationLevel.DISTRICT: "district",
}

LOW_RATING_MAX: Final = 2


EventData: TypeAlias = Mapping[str, str | int | float | None]


@dataclass(frozen=True)
class StatusEvent:
    type: str
    request_id: str
    status: RequestStatus
    level: EscalationLevel
    at: datetime
    by: str
    reason: str = ""
    volunteer_id: str | None = None
    data: EventData = field(default_factory=dict)


class TimerKind(StrEnum):
    OFFER_TIMEOUT = "offer_timeout"
    OFFER_WIDEN = "offer_widen"
    SLA_WARNING = "sla_warning"
    SLA_DEADLINE = "sla_deadline"


@dataclass(frozen=True)
class Timer:
    """A wake-up to schedule; `generation` and `level` let a late firing be recognised as stale."""

    kind: TimerKind
    request_id: str
    due_at: datetime
    level: EscalationLevel
    generation: int
    volunteer_id: str | None = None
    clock: str | None = None
    deadline_at: datetime | None = None


@dataclass(frozen=True)
class RequestState:
    request_id: str
    status: RequestStatus = RequestStatus.SUBMITTED
    level: EscalationLevel = EscalationLevel.GRID
    assignee_id: str | None = None
    offered_to: frozenset[str] = frozenset()
    redo_count: int = 0
    rating: int | None = None


class Trigger(StrEnum):
    START_MATCHING = "start_matching"
    OFFER = "offer"
    ACCEPT_OFFER = "accept_offer"
    DECLINE_OFFER = "decline_offer"
    EXPIRE_OFFER = "expire_offer"
    START_WORK = "start_work"
    RESOLVE = "resolve"
    RATE = "rate"
    REOPEN = "reopen"
    ESCALATE = "escalate"
    REASSIGN = "reassign"
    CANCEL = "cancel"
    REJECT = "reject"
    EXPIRE = "expire"
    GIVE_BACK = "give_back"


_S = RequestStatus
_T = Trigger

TRANSITIONS: Final[Mapping[tuple[RequestStatus, Trigger], RequestStatus]] = {
    (_S.SUBMITTED, _T.START_MATCHING): _S.MATCHING,
    (_S.ESCALATED, _T.START_MATCHING): _S.MATCHING,
    (_S.MATCHING, _T.OFFER): _S.OFFERED,
    (_S.OFFERED, _T.OFFER): _S.OFFERED,
    (_S.OFFERED, _T.ACCEPT_OFFER): _S.ASSIGNED,
    # Stays OFFERED while other offers of a widening round are still open (see _after_offer_closed).
    (_S.OFFERED, _T.DECLINE_OFFER): _S.MATCHING,
    (_S.OFFERED, _T.EXPIRE_OFFER): _S.MATCHING,
    (_S.ASSIGNED, _T.START_WORK): _S.IN_PROGRESS,
    (_S.ASSIGNED, _T.RESOLVE): _S.RESOLVED,
    (_S.IN_PROGRESS, _T.RESOLVE): _S.RESOLVED,
    (_S.RESOLVED, _T.RATE): _S.RATED,
    (_S.RESOLVED, _T.REOPEN): _S.MATCHING,
    (_S.RATED, _T.REOPEN): _S.MATCHING,
    (_S.MATCHING, _T.ESCALATE): _S.ESCALATED,
    (_S.OFFERED, _T.ESCALATE): _S.ESCALATED,
    (_S.ESCALATED, _T.ESCALATE): _S.ESCALATED,
    # A volunteer already on the job keeps it; the level above is told and watches the resolve clock.
    (_S.ASSIGNED, _T.ESCALATE): _S.ASSIGNED,
    (_S.IN_PROGRESS, _T.ESCALATE): _S.IN_PROGRESS,
    (_S.MATCHING, _T.REASSIGN): _S.ASSIGNED,
    (_S.OFFERED, _T.REASSIGN): _S.ASSIGNED,
    (_S.ESCALATED, _T.REASSIGN): _S.ASSIGNED,
    (_S.ASSIGNED, _T.REASSIGN): _S.ASSIGNED,
    (_S.IN_PROGRESS, _T.REASSIGN): _S.ASSIGNED,
    # The volunteer cannot finish (or an operator takes it away without a successor): match again.
    (_S.ASSIGNED, _T.GIVE_BACK): _S.MATCHING,
    (_S.IN_PROGRESS, _T.GIVE_BACK): _S.MATCHING,
    (_S.SUBMITTED, _T.CANCEL): _S.CANCELLED,
    (_S.MATCHING, _T.CANCEL): _S.CANCELLED,
    (_S.OFFERED, _T.CANCEL): _S.CANCELLED,
    (_S.ESCALATED, _T.CANCEL): _S.CANCELLED,
    (_S.ASSIGNED, _T.CANCEL): _S.CANCELLED,
    (_S.IN_PROGRESS, _T.CANCEL): _S.CANCELLED,
    (_S.SUBMITTED, _T.REJECT): _S.REJECTED,
    (_S.SUBMITTED, _T.EXPIRE): _S.EXPIRED,
    (_S.MATCHING, _T.EXPIRE): _S.EXPIRED,
    (_S.OFFERED, _T.EXPIRE): _S.EXPIRED,
    (_S.ESCALATED, _T.EXPIRE): _S.EXPIRED,
}


@dataclass(frozen=True, kw_only=True)
class Command:
    trigger: ClassVar[Trigger]
    by: str = "system"
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class StartMatching(Command):
    trigger: ClassVar[Trigger] = Trigger.START_MATCHING


@dataclass(frozen=True, kw_only=True)
class OfferTo(Command):
    trigger: ClassVar[Trigger] = Trigger.OFFER
    volunteer_ids: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class AcceptOffer(Command):
    trigger: ClassVar[Trigger] = Trigger.ACCEPT_OFFER
    volunteer_id: str


@dataclass(frozen=True, kw_only=True)
class DeclineOffer(Command):
    trigger: ClassVar[Trigger] = Trigger.DECLINE_OFFER
    volunteer_id: str


@dataclass(frozen=True, kw_only=True)
class ExpireOffer(Command):
    trigger: ClassVar[Trigger] = Trigger.EXPIRE_OFFER
    volunteer_id: str


@dataclass(frozen=True, kw_only=True)
class StartWork(Command):
    trigger: ClassVar[Trigger] = Trigger.START_WORK
    volunteer_id: str


@dataclass(frozen=True, kw_only=True)
class Resolve(Command):
    """`volunteer_id` None means an operator closes it on the volunteer's behalf."""

    trigger: ClassVar[Trigger] = Trigger.RESOLVE
    volunteer_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Rate(Command):
    trigger: ClassVar[Trigger] = Trigger.RATE
    stars: int


@dataclass(frozen=True, kw_only=True)
class ReportNotDone(Command):
    trigger: ClassVar[Trigger] = Trigger.REOPEN


@dataclass(frozen=True, kw_only=True)
class Escalate(Command):
    trigger: ClassVar[Trigger] = Trigger.ESCALATE


@dataclass(frozen=True, kw_only=True)
class Reassign(Command):
    trigger: ClassVar[Trigger] = Trigger.REASSIGN
    volunteer_id: str


@dataclass(frozen=True, kw_only=True)
class Cancel(Command):
    trigger: ClassVar[Trigger] = Trigger.CANCEL


@dataclass(frozen=True, kw_only=True)
class Reject(Command):
    trigger: ClassVar[Trigger] = Trigger.REJECT


@dataclass(frozen=True, kw_only=True)
class Expire(Command):
    trigger: ClassVar[Trigger] = Trigger.EXPIRE


@dataclass(frozen=True, kw_only=True)
class GiveBack(Command):
    """`volunteer_id` None means an operator takes the request away from whoever holds it."""

    trigger: ClassVar[Trigger] = Trigger.GIVE_BACK
    volunteer_id: str | None = None


@dataclass(frozen=True)
class Transition:
    state: RequestState
    events: tuple[StatusEvent, ...]


@dataclass(frozen=True)
class Rejection:
    state: RequestState
    event: StatusEvent

    @property
    def reason(self) -> str:
        return self.event.reason


def require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("time must be timezone-aware")


def notice(
    state: RequestState,
    event_type: str,
    *,
    at: datetime,
    by: str,
    reason: str = "",
    volunteer_id: str | None = None,
    data: EventData | None = None,
) -> StatusEvent:
    """An event about `state` as it is now (no transition)."""
    return StatusEvent(
        type=event_type,
        request_id=state.request_id,
        status=state.status,
        level=state.level,
        at=at,
        by=by,
        reason=reason,
        volunteer_id=volunteer_id,
        data=data if data is not None else {},
    )


def apply(state: RequestState, command: Command, *, at: datetime) -> Transition | Rejection:
    """Apply one command; an illegal one yields a Rejection carrying a `request.command_rejected` event."""
    require_aware(at)
    target = TRANSITIONS.get((state.status, command.trigger))
    problem = (
        f"cannot {command.trigger.value.replace('_', ' ')} a request that is {state.status.value}"
        if target is None
        else _guard_problem(state, command)
    )
    if target is None or problem:
        return Rejection(state, _rejected(state, command, at, problem))
    return _effect(state, command, target, at)


def _rejected(state: RequestState, command: Command, at: datetime, problem: str) -> StatusEvent:
    return notice(
        state,
        REQUEST_COMMAND_REJECTED,
        at=at,
        by=command.by,
        reason=problem,
        volunteer_id=getattr(command, "volunteer_id", None),
        data={"command": command.trigger.value},
    )


def _guard_problem(state: RequestState, command: Command) -> str:
    match command:
        case OfferTo(volunteer_ids=ids):
            if not ids or len(set(ids)) != len(ids):
                return "an offer needs distinct volunteers"
            already = sorted(set(ids) & (state.offered_to | {state.assignee_id or ""}))
            return f"already holds an offer: {', '.join(already)}" if already else ""
        case AcceptOffer(volunteer_id=v) | DeclineOffer(volunteer_id=v) | ExpireOffer(volunteer_id=v):
            if v not in state.offered_to:
                return f"volunteer {v} holds no open offer (withdrawn, declined, expired or never made)"
        case StartWork(volunteer_id=v) | Resolve(volunteer_id=str() as v) | GiveBack(volunteer_id=str() as v):
            if v != state.assignee_id:
                return f"volunteer {v} is not assigned to this request"
        case Rate(stars=stars):
            if not 1 <= stars <= 5:
                return f"a rating is 1 to 5 stars, not {stars}"
        case Escalate():
            if next_level(state.level) is None:
                return "already at district level, nothing above to escalate to"
        case Reassign(volunteer_id=v):
            if v == state.assignee_id:
                return f"volunteer {v} is already assigned"
    return ""


def _effect(state: RequestState, command: Command, target: RequestStatus, at: datetime) -> Transition:
    def event(s: RequestState, event_type: str, volunteer_id: str | None = None, **data: str | int) -> StatusEvent:
        return notice(s, event_type, at=at, by=command.by, reason=command.reason, volunteer_id=volunteer_id, data=data)

    match command:
        case OfferTo(volunteer_ids=ids):
            new = replace(state, status=target, offered_to=state.offered_to | set(ids))
            return Transition(new, tuple(event(new, REQUEST_OFFERED, v) for v in ids))
        case AcceptOffer(volunteer_id=v):
            new = replace(state, status=target, assignee_id=v, offered_to=frozenset())
            others = replace(state, offered_to=state.offered_to - {v})
            withdrawn = _withdraw(others, new, at, command.by, f"volunteer {v} accepted first")
            return Transition(new, (*withdrawn, event(new, REQUEST_ASSIGNED, v)))
        case DeclineOffer(volunteer_id=v) | ExpireOffer(volunteer_id=v):
            new = _after_offer_closed(state, v, target)
            kind = REQUEST_OFFER_DECLINED if isinstance(command, DeclineOffer) else REQUEST_OFFER_EXPIRED
            return Transition(new, (event(new, kind, v),))
        case Rate(stars=stars):
            rated = replace(state, status=target, rating=stars)
            if stars > LOW_RATING_MAX:
                return Transition(rated, (event(rated, REQUEST_RATED, state.assignee_id, stars=stars),))
            redo = _reopen(rated)
            return Transition(
                redo,
                (
                    event(rated, REQUEST_RATED, state.assignee_id, stars=stars),
                    event(redo, REQUEST_REOPENED, redo_count=redo.redo_count, cause="low_rating"),
                ),
            )
        case ReportNotDone():
            redo = _reopen(state)
            return Transition(redo, (event(redo, REQUEST_REOPENED, redo_count=redo.redo_count, cause="not_done"),))
        case Escalate():
            level = EscalationLevel(state.level + 1)
            keeps_volunteer = target in WITH_VOLUNTEER
            new = replace(
                state, status=target, level=level, offered_to=state.offered_to if keeps_volunteer else frozenset()
            )
            withdrawn = () if keeps_volunteer else _withdraw(state, new, at, command.by, "escalated")
            escalated = event(
                new,
                REQUEST_ESCALATED,
                responsible_role=RESPONSIBLE_ROLE[level],
                from_level=state.level.wire_name,
                to_level=level.wire_name,
            )
            return Transition(new, (*withdrawn, escalated))
        case Reassign(volunteer_id=v):
            new = replace(state, status=target, assignee_id=v, offered_to=frozenset())
            released = _release(state, new, at, command.by, "reassigned by operator")
            return Transition(new, (*released, event(new, REQUEST_ASSIGNED, v)))
        case Cancel() | Reject() | Expire():
            new = replace(state, status=target, offered_to=frozenset())
            kind = {
                Trigger.CANCEL: REQUEST_CANCELLED,
                Trigger.REJECT: REQUEST_REJECTED,
                Trigger.EXPIRE: REQUEST_EXPIRED,
            }[command.trigger]
            released = _release(state, new, at, command.by, command.reason or kind)
            return Transition(new, (*released, event(new, kind)))
        case GiveBack():
            new = replace(state, status=target, assignee_id=None, offered_to=frozenset())
            return Transition(new, (event(new, REQUEST_UNASSIGNED, state.assignee_id),))
        case StartWork(volunteer_id=v):
            new = replace(state, status=target)
            return Transition(new, (event(new, REQUEST_STARTED, v),))
        case Resolve():
            new = replace(state, status=target)
            return Transition(new, (event(new, REQUEST_RESOLVED, state.assignee_id),))
        case _:
            new = replace(state, status=target)
            return Transition(new, (event(new, REQUEST_MATCHING),))


def _after_offer_closed(state: RequestState, volunteer_id: str, target: RequestStatus) -> RequestState:
    still_open = state.offered_to - {volunteer_id}
    return replace(state, status=RequestStatus.OFFERED if still_open else target, offered_to=still_open)


def _reopen(state: RequestState) -> RequestState:
    return replace(
        state,
        status=RequestStatus.MATCHING,
        assignee_id=None,
        offered_to=frozenset(),
        redo_count=state.redo_count + 1,
        rating=None,
    )


def _withdraw(old: RequestState, new: RequestState, at: datetime, by: str, why: str) -> tuple[StatusEvent, ...]:
    return tuple(
        notice(new, REQUEST_OFFER_WITHDRAWN, at=at, by=by, reason=why, volunteer_id=v) for v in sorted(old.offered_to)
    )


def _release(old: RequestState, new: RequestState, at: datetime, by: str, why: str) -> tuple[StatusEvent, ...]:
    """Withdraw open offers and unassign whoever held the request before."""
    withdrawn = _withdraw(old, new, at, by, why)
    if old.assignee_id is None or old.status not in WITH_VOLUNTEER:
        return withdrawn
    unassigned = notice(new, REQUEST_UNASSIGNED, at=at, by=by, reason=why, volunteer_id=old.assignee_id)
    return (*withdrawn, unassigned)
