"""SLA ladder: accept and resolve clocks per level, warnings, escalation upwards, and redo (重办)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from services.dispatch.domain.states import (
    AWAITING_VOLUNTEER,
    REQUEST_SLA_BREACHED,
    REQUEST_SLA_WARNING,
    REQUEST_UNMATCHED,
    RESPONSIBLE_ROLE,
    TERMINAL_STATUSES,
    WITH_VOLUNTEER,
    Command,
    Escalate,
    EscalationLevel,
    Rate,
    Rejection,
    ReportNotDone,
    RequestState,
    RequestStatus,
    StatusEvent,
    Timer,
    TimerKind,
    apply,
    next_level,
    notice,
)


class SlaClock(StrEnum):
    ACCEPT = "accept"
    RESOLVE = "resolve"


@dataclass(frozen=True)
class LevelDeadlines:
    accept_within: timedelta
    resolve_within: timedelta


@dataclass(frozen=True)
class SlaPolicy:
    """Deadlines of one menu item; a level without its own entry uses the nearest level below it."""

    per_level: Mapping[EscalationLevel, LevelDeadlines]
    warn_fraction: float = 0.8
    warn_lead: timedelta | None = None  # when set, warn this long before the deadline instead

    def __post_init__(self) -> None:
        if EscalationLevel.GRID not in self.per_level:
            raise ValueError("an SLA policy needs grid-level deadlines")
        if not 0 < self.warn_fraction < 1:
            raise ValueError("warn_fraction must be between 0 and 1")

    def deadlines(self, level: EscalationLevel) -> LevelDeadlines:
        return self.per_level[max(lvl for lvl in self.per_level if lvl <= level)]

    def window(self, clock: SlaClock, level: EscalationLevel) -> timedelta:
        deadlines = self.deadlines(level)
        return deadlines.accept_within if clock is SlaClock.ACCEPT else deadlines.resolve_within

    def warn_after(self, window: timedelta) -> timedelta:
        if self.warn_lead is not None:
            return max(window - self.warn_lead, timedelta(0))
        return window * self.warn_fraction


class EscalationOutcome(StrEnum):
    WARNED = "warned"
    ESCALATED = "escalated"
    AT_TOP = "at_top"  # district level and still unserved: the district is told, nothing above
    REOPENED = "reopened"
    RATED = "rated"
    REJECTED = "rejected"
    STALE = "stale"


@dataclass(frozen=True)
class EscalationStep:
    request: RequestState
    outcome: EscalationOutcome
    events: tuple[StatusEvent, ...] = ()
    timers: tuple[Timer, ...] = ()


def responsible_role(level: EscalationLevel) -> str:
    return RESPONSIBLE_ROLE[level]


def clock_timers(request: RequestState, policy: SlaPolicy, *, started_at: datetime) -> tuple[Timer, ...]:
    """Warning and deadline timers of the clocks that still run at the request's current level."""
    running = [SlaClock.ACCEPT] if request.status in AWAITING_VOLUNTEER else []
    if _resolve_clock_runs(request):
        running.append(SlaClock.RESOLVE)
    timers: list[Timer] = []
    for clock in running:
        window = policy.window(clock, request.level)
        deadline = started_at + window
        for kind, due in (
            (TimerKind.SLA_WARNING, started_at + policy.warn_after(window)),
            (TimerKind.SLA_DEADLINE, deadline),
        ):
            timers.append(
                Timer(
                    kind,
                    request.request_id,
                    due,
                    request.level,
                    request.redo_count,
                    clock=clock.value,
                    deadline_at=deadline,
                )
            )
    return tuple(timers)


def on_sla_timer(request: RequestState, timer: Timer, policy: SlaPolicy, *, at: datetime) -> EscalationStep:
    """A warning tells the level's responsible person; a passed deadline climbs the ladder."""
    if _is_stale(request, timer):
        return EscalationStep(request, EscalationOutcome.STALE)
    role = responsible_role(request.level)
    data = {
        "clock": timer.clock,
        "deadline_at": timer.deadline_at.isoformat() if timer.deadline_at else None,
        "responsible_role": role,
    }
    # The volunteer on the job is the one who can still make the resolve deadline: the warning names them.
    holder = request.assignee_id if timer.clock == SlaClock.RESOLVE and request.status in WITH_VOLUNTEER else None
    if timer.kind is TimerKind.SLA_WARNING:
        warning = notice(
            request,
            REQUEST_SLA_WARNING,
            at=at,
            by="system:sla",
            reason=f"{timer.clock} deadline near at {request.level.wire_name} level",
            volunteer_id=holder,
            data=data,
        )
        return EscalationStep(request, EscalationOutcome.WARNED, (warning,))
    reason = f"{timer.clock} deadline passed at {request.level.wire_name} level"
    if next_level(request.level) is None:
        breached = notice(
            request, REQUEST_SLA_BREACHED, at=at, by="system:sla", reason=reason, volunteer_id=holder, data=data
        )
        return EscalationStep(request, EscalationOutcome.AT_TOP, (breached,))
    return escalate(request, policy, at=at, by="system:sla", reason=reason)


def escalate_when_exhausted(request: RequestState, policy: SlaPolicy, *, at: datetime) -> EscalationStep:
    """Nobody left to ask at this level: hand the request to the level above."""
    reason = f"no candidate left at {request.level.wire_name} level"
    if next_level(request.level) is None:
        unmatched = notice(
            request,
            REQUEST_UNMATCHED,
            at=at,
            by="system:dispatch",
            reason=reason,
            data={"responsible_role": responsible_role(request.level)},
        )
        return EscalationStep(request, EscalationOutcome.AT_TOP, (unmatched,))
    return escalate(request, policy, at=at, by="system:dispatch", reason=reason)


def escalate(request: RequestState, policy: SlaPolicy, *, at: datetime, by: str, reason: str) -> EscalationStep:
    """Move one level up (also an operator's manual escalation); the clocks restart at the new level."""
    return _step(request, Escalate(by=by, reason=reason), policy, at, EscalationOutcome.ESCALATED)


def rate(request: RequestState, stars: int, policy: SlaPolicy, *, at: datetime, by: str) -> EscalationStep:
    """A low rating reopens the request as a redo, with fresh clocks."""
    step = _step(request, Rate(stars=stars, by=by), policy, at, EscalationOutcome.RATED)
    reopened = step.request.status is RequestStatus.MATCHING
    return replace(step, outcome=EscalationOutcome.REOPENED) if reopened else step


def report_not_done(
    request: RequestState, policy: SlaPolicy, *, at: datetime, by: str, reason: str = "not actually done"
) -> EscalationStep:
    return _step(request, ReportNotDone(by=by, reason=reason), policy, at, EscalationOutcome.REOPENED)


def _step(
    request: RequestState, command: Command, policy: SlaPolicy, at: datetime, outcome: EscalationOutcome
) -> EscalationStep:
    result = apply(request, command, at=at)
    if isinstance(result, Rejection):
        return EscalationStep(request, EscalationOutcome.REJECTED, (result.event,))
    return EscalationStep(result.state, outcome, result.events, clock_timers(result.state, policy, started_at=at))


def _resolve_clock_runs(request: RequestState) -> bool:
    return request.status not in TERMINAL_STATUSES and request.status is not RequestStatus.RESOLVED


def _is_stale(request: RequestState, timer: Timer) -> bool:
    if timer.kind not in (TimerKind.SLA_WARNING, TimerKind.SLA_DEADLINE):
        return True
    if timer.level != request.level or timer.generation != request.redo_count:
        return True
    if timer.clock == SlaClock.ACCEPT:
        return request.status not in AWAITING_VOLUNTEER
    return not _resolve_clock_runs(request)
