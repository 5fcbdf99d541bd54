from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.dispatch.domain.offers import (
    OfferOutcome,
    OfferPolicy,
    OfferStep,
    accept_offer,
    decline_offer,
    on_offer_timer,
    start_offers,
)
from services.dispatch.domain.states import (
    REQUEST_ASSIGNED,
    REQUEST_COMMAND_REJECTED,
    REQUEST_OFFER_DECLINED,
    REQUEST_OFFER_EXPIRED,
    REQUEST_OFFER_WITHDRAWN,
    REQUEST_OFFERED,
    EscalationLevel,
    RequestState,
    RequestStatus,
    Timer,
    TimerKind,
)

AT = datetime(2014, 6, 3, 2, 0, tzinfo=UTC)
ERRAND = OfferPolicy.one_at_a_time(timedelta(minutes=10))
WELFARE_CHECK = OfferPolicy.widening(first=2, more=2, every=timedelta(minutes=2), offer_timeout=timedelta(minutes=5))
PLENTY: Mapping[str, int] = {v: 1 for v in "abcdefgh"}


def matching(request_id: str = "r1") -> RequestState:
    return RequestState(request_id, status=RequestStatus.MATCHING)


def timer_for(step: OfferStep, kind: TimerKind, volunteer_id: str | None = None) -> Timer:
    (timer,) = [t for t in step.timers if t.kind is kind and t.volunteer_id == volunteer_id]
    return timer


def offered(step: OfferStep) -> list[str | None]:
    return [e.volunteer_id for e in step.events if e.type == REQUEST_OFFERED]


def test_normal_item_is_offered_to_one_volunteer_at_a_time() -> None:
    step = start_offers(matching(), ["a", "b", "c"], ERRAND, at=AT, spare_capacity=PLENTY)
    assert (step.outcome, offered(step), step.request.offered_to) == (OfferOutcome.WAITING, ["a"], frozenset({"a"}))
    assert timer_for(step, TimerKind.OFFER_TIMEOUT, "a").due_at == AT + timedelta(minutes=10)
    assert all(t.kind is not TimerKind.OFFER_WIDEN for t in step.timers)

    step = decline_offer(step.request, step.rounds, "a", at=AT, spare_capacity=PLENTY)
    assert [e.type for e in step.events] == [REQUEST_OFFER_DECLINED, REQUEST_OFFERED]
    assert step.request.offered_to == {"b"}

    later = AT + timedelta(minutes=10)
    step = on_offer_timer(
        step.request, step.rounds, timer_for(step, TimerKind.OFFER_TIMEOUT, "b"), at=later, spare_capacity=PLENTY
    )
    assert [e.type for e in step.events] == [REQUEST_OFFER_EXPIRED, REQUEST_OFFERED]
    assert step.request.offered_to == {"c"}

    step = accept_offer(step.request, step.rounds, "c", at=later, spare_capacity=PLENTY)
    assert step.outcome is OfferOutcome.ASSIGNED
    assert (step.request.status, step.request.assignee_id) == (RequestStatus.ASSIGNED, "c")
    assert [e.type for e in step.events] == [REQUEST_ASSIGNED]


def test_level_is_exhausted_when_the_last_candidate_declines() -> None:
    step = start_offers(matching(), ["a"], ERRAND, at=AT, spare_capacity=PLENTY)
    step = decline_offer(step.request, step.rounds, "a", at=AT, spare_capacity=PLENTY)

    assert step.outcome is OfferOutcome.EXHAUSTED
    assert step.request.status is RequestStatus.MATCHING
    assert step.timers == ()


@pytest.mark.parametrize(
    ("spare", "first_offered", "outcome"),
    [
        ({"a": 0, "b": 1, "c": 1}, ["b"], OfferOutcome.WAITING),
        ({"a": 0, "b": 0, "c": 2}, ["c"], OfferOutcome.WAITING),
        ({"a": 0, "b": 0, "c": 0}, [], OfferOutcome.EXHAUSTED),
        ({}, [], OfferOutcome.EXHAUSTED),
    ],
)
def test_volunteers_without_spare_capacity_are_passed_over(
    spare: Mapping[str, int], first_offered: list[str], outcome: OfferOutcome
) -> None:
    step = start_offers(matching(), ["a", "b", "c"], ERRAND, at=AT, spare_capacity=spare)

    assert (offered(step), step.outcome) == (first_offered, outcome)


def test_urgent_item_widens_rounds_until_someone_accepts() -> None:
    step = start_offers(matching(), list("abcdef"), WELFARE_CHECK, at=AT, spare_capacity=PLENTY)
    assert offered(step) == ["a", "b"]
    widen = timer_for(step, TimerKind.OFFER_WIDEN)
    assert widen.due_at == AT + timedelta(minutes=2)

    step = on_offer_timer(step.request, step.rounds, widen, at=widen.due_at, spare_capacity=PLENTY)
    assert offered(step) == ["c", "d"]
    assert step.request.offered_to == {"a", "b", "c", "d"}
    next_widen = timer_for(step, TimerKind.OFFER_WIDEN)
    assert next_widen.due_at == AT + timedelta(minutes=4)

    step = accept_offer(step.request, step.rounds, "c", at=widen.due_at, spare_capacity=PLENTY)
    withdrawn = [e.volunteer_id for e in step.events if e.type == REQUEST_OFFER_WITHDRAWN]
    assert withdrawn == ["a", "b", "d"]
    assert step.request.assignee_id == "c"

    late = on_offer_timer(step.request, step.rounds, next_widen, at=next_widen.due_at, spare_capacity=PLENTY)
    assert (late.outcome, late.events, late.request) == (OfferOutcome.STALE, (), step.request)


def test_a_decline_in_a_widening_round_brings_in_the_next_candidate_without_moving_the_tick() -> None:
    step = start_offers(matching(), list("abcdef"), WELFARE_CHECK, at=AT, spare_capacity=PLENTY)
    step = decline_offer(step.request, step.rounds, "a", at=AT + timedelta(minutes=1), spare_capacity=PLENTY)

    assert step.request.status is RequestStatus.OFFERED
    assert step.request.offered_to == {"b", "c"}
    assert step.rounds.next_widen_at == AT + timedelta(minutes=2)
    assert all(t.kind is not TimerKind.OFFER_WIDEN for t in step.timers)


def test_accepting_a_withdrawn_or_declined_offer_is_rejected_with_a_reason() -> None:
    step = start_offers(matching(), list("abc"), WELFARE_CHECK, at=AT, spare_capacity=PLENTY)
    won = accept_offer(step.request, step.rounds, "a", at=AT, spare_capacity=PLENTY)
    too_late = accept_offer(won.request, won.rounds, "b", at=AT, spare_capacity=PLENTY)

    assert too_late.outcome is OfferOutcome.REJECTED
    assert too_late.request == won.request
    (event,) = too_late.events
    assert event.type == REQUEST_COMMAND_REJECTED
    assert "cannot accept offer a request that is assigned" in event.reason

    declined = decline_offer(step.request, step.rounds, "a", at=AT, spare_capacity=PLENTY)
    again = accept_offer(declined.request, declined.rounds, "a", at=AT, spare_capacity=PLENTY)
    assert again.outcome is OfferOutcome.REJECTED
    assert "holds no open offer" in again.events[0].reason


def test_a_volunteer_who_filled_up_meanwhile_cannot_accept() -> None:
    step = start_offers(matching(), ["a", "b"], ERRAND, at=AT, spare_capacity=PLENTY)

    full = accept_offer(step.request, step.rounds, "a", at=AT, spare_capacity={"a": 0})

    assert full.outcome is OfferOutcome.REJECTED
    assert "at capacity" in full.events[0].reason
    assert full.request.status is RequestStatus.OFFERED


@pytest.mark.parametrize("change", ["generation", "volunteer"])
def test_a_timer_that_no_longer_applies_changes_nothing(change: str) -> None:
    step = start_offers(matching(), ["a", "b"], ERRAND, at=AT, spare_capacity=PLENTY, generation=2)
    timer = timer_for(step, TimerKind.OFFER_TIMEOUT, "a")
    if change == "generation":
        timer = Timer(timer.kind, timer.request_id, timer.due_at, EscalationLevel.GRID, 1, volunteer_id="a")
    else:
        step = decline_offer(step.request, step.rounds, "a", at=AT, spare_capacity=PLENTY)

    fired = on_offer_timer(step.request, step.rounds, timer, at=timer.due_at, spare_capacity=PLENTY)

    assert (fired.outcome, fired.events, fired.request) == (OfferOutcome.STALE, (), step.request)


def test_same_inputs_give_the_same_offers() -> None:
    def run() -> OfferStep:
        step = start_offers(matching(), list("abcdef"), WELFARE_CHECK, at=AT, spare_capacity=PLENTY)
        return decline_offer(step.request, step.rounds, "b", at=AT, spare_capacity=PLENTY)

    assert run() == run()


ACTIONS = st.lists(
    st.tuples(
        st.integers(0, 3), st.sampled_from(["accept", "decline", "timeout", "widen", "stranger"]), st.integers(0, 7)
    ),
    max_size=60,
)


@given(
    capacities=st.lists(st.integers(0, 2), min_size=6, max_size=6),
    rankings=st.lists(st.permutations(range(6)).map(lambda p: [f"v{i}" for i in p[:4]]), min_size=4, max_size=4),
    urgent=st.lists(st.booleans(), min_size=4, max_size=4),
    actions=ACTIONS,
)
def test_shared_volunteers_never_exceed_capacity_and_offers_stay_within_the_candidates(
    capacities: list[int], rankings: list[list[str]], urgent: list[bool], actions: list[tuple[int, str, int]]
) -> None:
    capacity = {f"v{i}": c for i, c in enumerate(capacities)}
    load = dict.fromkeys(capacity, 0)

    def spare() -> dict[str, int]:
        return {v: capacity[v] - load[v] for v in capacity}

    steps = [
        start_offers(
            matching(f"r{i}"), rankings[i], WELFARE_CHECK if urgent[i] else ERRAND, at=AT, spare_capacity=spare()
        )
        for i in range(4)
    ]
    timers: list[list[Timer]] = [list(s.timers) for s in steps]
    now = AT
    for index, action, pick in actions:
        now += timedelta(minutes=1)
        step = steps[index]
        holders = sorted(step.request.offered_to)
        if action in ("accept", "decline") and holders:
            volunteer = holders[pick % len(holders)]
            act = accept_offer if action == "accept" else decline_offer
            step = act(step.request, step.rounds, volunteer, at=now, spare_capacity=spare())
        elif action == "stranger":
            step = accept_offer(step.request, step.rounds, f"v{pick % 6}", at=now, spare_capacity=spare())
        elif action in ("timeout", "widen") and timers[index]:
            timer = timers[index].pop(pick % len(timers[index]))
            step = on_offer_timer(step.request, step.rounds, timer, at=max(now, timer.due_at), spare_capacity=spare())
        if step is not steps[index] and step.outcome is OfferOutcome.ASSIGNED:
            assert step.request.assignee_id is not None
            load[step.request.assignee_id] += 1
        steps[index] = step
        timers[index].extend(step.timers)

        assert all(load[v] <= capacity[v] for v in capacity)
        assert step.request.offered_to <= set(rankings[index])
        assert step.request.assignee_id in (None, *rankings[index])
        if step.outcome is OfferOutcome.REJECTED:
            assert step.events[0].type == REQUEST_COMMAND_REJECTED and step.events[0].reason
