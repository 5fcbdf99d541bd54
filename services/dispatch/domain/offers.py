"""Offer rounds over a ranked candidate list: one at a time, or widening rounds for urgent items."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from services.dispatch.domain.states import (
    REQUEST_COMMAND_REJECTED,
    AcceptOffer,
    Command,
    DeclineOffer,
    ExpireOffer,
    OfferTo,
    Rejection,
    RequestState,
    RequestStatus,
    StatusEvent,
    Timer,
    TimerKind,
    apply,
    notice,
)


@dataclass(frozen=True)
class OfferPolicy:
    offer_timeout: timedelta
    first_round: int = 1
    widen_by: int = 0
    widen_every: timedelta | None = None

    def __post_init__(self) -> None:
        if self.offer_timeout <= timedelta(0) or self.first_round < 1 or self.widen_by < 0:
            raise ValueError("offer timeout must be positive, first round at least 1, widening not negative")
        if (self.widen_by > 0) != (self.widen_every is not None and self.widen_every > timedelta(0)):
            raise ValueError("widening needs both a positive widen_by and a positive widen_every")

    @classmethod
    def one_at_a_time(cls, offer_timeout: timedelta) -> OfferPolicy:
        return cls(offer_timeout=offer_timeout)

    @classmethod
    def widening(cls, *, first: int, more: int, every: timedelta, offer_timeout: timedelta) -> OfferPolicy:
        return cls(offer_timeout=offer_timeout, first_round=first, widen_by=more, widen_every=every)


@dataclass(frozen=True)
class OfferRounds:
    """`generation` distinguishes this run of rounds from earlier ones, so their timers are stale."""

    policy: OfferPolicy
    candidates: tuple[str, ...]
    generation: int = 1
    cursor: int = 0
    round: int = 0
    next_widen_at: datetime | None = None

    @property
    def remaining(self) -> tuple[str, ...]:
        return self.candidates[self.cursor :]


class OfferOutcome(StrEnum):
    WAITING = "waiting"  # offers open, nobody accepted yet
    ASSIGNED = "assigned"
    EXHAUSTED = "exhausted"  # no open offer and nobody left to ask at this level
    REJECTED = "rejected"  # the command was illegal; the event says why
    STALE = "stale"  # a timer that no longer applies; nothing changes


@dataclass(frozen=True)
class OfferStep:
    request: RequestState
    rounds: OfferRounds
    outcome: OfferOutcome
    events: tuple[StatusEvent, ...] = ()
    timers: tuple[Timer, ...] = ()


def start_offers(
    request: RequestState,
    candidates: Sequence[str],
    policy: OfferPolicy,
    *,
    at: datetime,
    spare_capacity: Mapping[str, int],
    generation: int = 1,
    by: str = "system:dispatch",
) -> OfferStep:
    """Open the first round: one candidate, or the first `policy.first_round` for urgent items."""
    rounds = OfferRounds(policy, tuple(dict.fromkeys(candidates)), generation=generation)
    return _offer_more(request, rounds, policy.first_round, at=at, spare_capacity=spare_capacity, by=by)


def accept_offer(
    request: RequestState,
    rounds: OfferRounds,
    volunteer_id: str,
    *,
    at: datetime,
    spare_capacity: Mapping[str, int],
    by: str | None = None,
) -> OfferStep:
    """First accept wins and every other open offer is withdrawn; a full volunteer cannot accept."""
    command = AcceptOffer(volunteer_id=volunteer_id, by=by or f"volunteer:{volunteer_id}")
    if spare_capacity.get(volunteer_id, 0) <= 0 and volunteer_id in request.offered_to:
        problem = f"volunteer {volunteer_id} is at capacity and cannot take another assignment"
        return _rejected(request, rounds, command, at, problem)
    result = apply(request, command, at=at)
    if isinstance(result, Rejection):
        return OfferStep(request, rounds, OfferOutcome.REJECTED, (result.event,))
    settled = replace(rounds, next_widen_at=None)
    return OfferStep(result.state, settled, OfferOutcome.ASSIGNED, result.events)


def decline_offer(
    request: RequestState,
    rounds: OfferRounds,
    volunteer_id: str,
    *,
    at: datetime,
    spare_capacity: Mapping[str, int],
    by: str | None = None,
) -> OfferStep:
    """A decline passes the request on to the next candidate."""
    command = DeclineOffer(volunteer_id=volunteer_id, by=by or f"volunteer:{volunteer_id}")
    return _close_and_refill(request, rounds, command, at=at, spare_capacity=spare_capacity)


def on_offer_timer(
    request: RequestState,
    rounds: OfferRounds,
    timer: Timer,
    *,
    at: datetime,
    spare_capacity: Mapping[str, int],
) -> OfferStep:
    """An offer timeout passes the request on; a widening tick offers the next few at once."""
    if timer.generation != rounds.generation or request.status is not RequestStatus.OFFERED:
        return OfferStep(request, rounds, OfferOutcome.STALE)
    if timer.kind is TimerKind.OFFER_TIMEOUT and timer.volunteer_id in request.offered_to:
        command = ExpireOffer(volunteer_id=timer.volunteer_id, by="system:offer_timeout", reason="no answer in time")
        return _close_and_refill(request, rounds, command, at=at, spare_capacity=spare_capacity)
    if timer.kind is TimerKind.OFFER_WIDEN and rounds.next_widen_at == timer.due_at:
        return _offer_more(
            request, rounds, rounds.policy.widen_by, at=at, spare_capacity=spare_capacity, by="system:offer_widen"
        )
    return OfferStep(request, rounds, OfferOutcome.STALE)


def _close_and_refill(
    request: RequestState, rounds: OfferRounds, command: Command, *, at: datetime, spare_capacity: Mapping[str, int]
) -> OfferStep:
    closed = apply(request, command, at=at)
    if isinstance(closed, Rejection):
        return OfferStep(request, rounds, OfferOutcome.REJECTED, (closed.event,))
    refill = _offer_more(closed.state, rounds, 1, at=at, spare_capacity=spare_capacity, by=command.by)
    return replace(refill, events=closed.events + refill.events)


def _offer_more(
    request: RequestState,
    rounds: OfferRounds,
    count: int,
    *,
    at: datetime,
    spare_capacity: Mapping[str, int],
    by: str,
) -> OfferStep:
    chosen, cursor = _next_candidates(request, rounds, count, spare_capacity)
    rounds = replace(rounds, cursor=cursor)
    if not chosen:
        waiting = request.status is RequestStatus.OFFERED
        outcome = OfferOutcome.WAITING if waiting else OfferOutcome.EXHAUSTED
        return OfferStep(request, replace(rounds, next_widen_at=None), outcome)
    offered = apply(request, OfferTo(volunteer_ids=chosen, by=by), at=at)
    if isinstance(offered, Rejection):
        return OfferStep(request, rounds, OfferOutcome.REJECTED, (offered.event,))
    widen_at = _next_widen(rounds, at)
    timers = tuple(
        Timer(
            TimerKind.OFFER_TIMEOUT,
            request.request_id,
            at + rounds.policy.offer_timeout,
            request.level,
            rounds.generation,
            volunteer_id=v,
        )
        for v in chosen
    )
    if widen_at is not None and widen_at != rounds.next_widen_at:
        timers += (Timer(TimerKind.OFFER_WIDEN, request.request_id, widen_at, request.level, rounds.generation),)
    rounds = replace(rounds, round=rounds.round + 1, next_widen_at=widen_at)
    return OfferStep(offered.state, rounds, OfferOutcome.WAITING, offered.events, timers)


def _next_candidates(
    request: RequestState, rounds: OfferRounds, count: int, spare_capacity: Mapping[str, int]
) -> tuple[tuple[str, ...], int]:
    """Walk the ranked list from the cursor, passing over anyone who is full or already asked."""
    chosen: list[str] = []
    cursor = rounds.cursor
    while cursor < len(rounds.candidates) and len(chosen) < count:
        volunteer_id = rounds.candidates[cursor]
        cursor += 1
        if spare_capacity.get(volunteer_id, 0) > 0 and volunteer_id not in request.offered_to:
            chosen.append(volunteer_id)
    return tuple(chosen), cursor


def _next_widen(rounds: OfferRounds, at: datetime) -> datetime | None:
    if rounds.policy.widen_every is None or not rounds.remaining:
        return None
    # A refill after a decline must not postpone a widening tick already due.
    if rounds.next_widen_at is not None and rounds.next_widen_at > at:
        return rounds.next_widen_at
    return at + rounds.policy.widen_every


def _rejected(request: RequestState, rounds: OfferRounds, command: Command, at: datetime, problem: str) -> OfferStep:
    event = notice(
        request,
        REQUEST_COMMAND_REJECTED,
        at=at,
        by=command.by,
        reason=problem,
        volunteer_id=getattr(command, "volunteer_id", None),
        data={"command": command.trigger.value},
    )
    return OfferStep(request, rounds, OfferOutcome.REJECTED, (event,))
