from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.dispatch.domain.escalation import (
    EscalationOutcome,
    EscalationStep,
    LevelDeadlines,
    SlaClock,
    SlaPolicy,
    clock_timers,
    escalate,
    escalate_when_exhausted,
    on_sla_timer,
    rate,
    report_not_done,
)
from services.dispatch.domain.matching import MatchRequest, Place, Volunteer, WeeklyWindow, rank_candidates
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
    REQUEST_ESCALATED,
    REQUEST_OFFERED,
    REQUEST_SLA_BREACHED,
    REQUEST_SLA_WARNING,
    REQUEST_UNMATCHED,
    TERMINAL_STATUSES,
    EscalationLevel,
    Expire,
    Rejection,
    RequestState,
    RequestStatus,
    Resolve,
    StartMatching,
    StartWork,
    StatusEvent,
    Timer,
    TimerKind,
    apply,
)

L = EscalationLevel
S = RequestStatus
AT = datetime(2014, 6, 3, 2, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)

ERRAND_SLA = SlaPolicy(
    {
        L.GRID: LevelDeadlines(accept_within=30 * MIN, resolve_within=3 * HOUR),
        L.COMMUNITY: LevelDeadlines(accept_within=60 * MIN, resolve_within=6 * HOUR),
    }
)
WELFARE_SLA = SlaPolicy({L.GRID: LevelDeadlines(accept_within=5 * MIN, resolve_within=30 * MIN)}, warn_lead=2 * MIN)


def request(status: RequestStatus = S.MATCHING, level: L = L.GRID, **kwargs: object) -> RequestState:
    return RequestState("r1", status=status, level=level, **kwargs)  # type: ignore[arg-type]


def timer(timers: tuple[Timer, ...], kind: TimerKind, clock: SlaClock) -> Timer:
    (found,) = [t for t in timers if t.kind is kind and t.clock == clock.value]
    return found


@pytest.mark.parametrize(
    ("policy", "level", "accept_within", "resolve_within"),
    [
        (ERRAND_SLA, L.GRID, 30 * MIN, 3 * HOUR),
        (ERRAND_SLA, L.COMMUNITY, 60 * MIN, 6 * HOUR),
        (ERRAND_SLA, L.DISTRICT, 60 * MIN, 6 * HOUR),  # falls back to the nearest level below
        (WELFARE_SLA, L.STREET, 5 * MIN, 30 * MIN),
    ],
)
def test_deadlines_per_item_per_level(
    policy: SlaPolicy, level: L, accept_within: timedelta, resolve_within: timedelta
) -> None:
    assert policy.deadlines(level) == LevelDeadlines(accept_within, resolve_within)


@pytest.mark.parametrize(
    ("policy", "status", "expected"),
    [
        # (clock, kind, minutes after start)
        (
            ERRAND_SLA,
            S.MATCHING,
            {
                ("accept", "sla_warning", 24),
                ("accept", "sla_deadline", 30),
                ("resolve", "sla_warning", 144),
                ("resolve", "sla_deadline", 180),
            },
        ),
        (ERRAND_SLA, S.ASSIGNED, {("resolve", "sla_warning", 144), ("resolve", "sla_deadline", 180)}),
        (
            WELFARE_SLA,
            S.OFFERED,
            {
                ("accept", "sla_warning", 3),
                ("accept", "sla_deadline", 5),
                ("resolve", "sla_warning", 28),
                ("resolve", "sla_deadline", 30),
            },
        ),
        (ERRAND_SLA, S.RESOLVED, set()),
        (ERRAND_SLA, S.CANCELLED, set()),
    ],
)
def test_clock_timers_warn_before_each_running_deadline(
    policy: SlaPolicy, status: RequestStatus, expected: set[tuple[str, str, int]]
) -> None:
    timers = clock_timers(request(status, assignee_id="a"), policy, started_at=AT)

    assert {(t.clock, t.kind.value, (t.due_at - AT) // MIN) for t in timers} == expected
    assert all(t.deadline_at is not None and t.due_at <= t.deadline_at for t in timers)


def test_warning_tells_the_levels_responsible_person() -> None:
    warning = timer(clock_timers(request(), ERRAND_SLA, started_at=AT), TimerKind.SLA_WARNING, SlaClock.ACCEPT)

    step = on_sla_timer(request(), warning, ERRAND_SLA, at=warning.due_at)

    assert step.outcome is EscalationOutcome.WARNED
    (event,) = step.events
    assert event.type == REQUEST_SLA_WARNING
    assert event.data["responsible_role"] == "team_captain"
    assert event.data["deadline_at"] == (AT + 30 * MIN).isoformat()
    assert step.request == request()


def test_passed_deadline_climbs_one_level_and_restarts_the_clocks() -> None:
    deadline = timer(clock_timers(request(), ERRAND_SLA, started_at=AT), TimerKind.SLA_DEADLINE, SlaClock.ACCEPT)

    step = on_sla_timer(request(), deadline, ERRAND_SLA, at=deadline.due_at)

    assert step.outcome is EscalationOutcome.ESCALATED
    assert (step.request.status, step.request.level) == (S.ESCALATED, L.COMMUNITY)
    (escalated,) = step.events
    assert escalated.type == REQUEST_ESCALATED and escalated.data["responsible_role"] == "community_director"
    new_deadline = timer(step.timers, TimerKind.SLA_DEADLINE, SlaClock.ACCEPT)
    assert (new_deadline.level, new_deadline.due_at) == (L.COMMUNITY, deadline.due_at + 60 * MIN)
    # The grid's timers no longer apply once the request has climbed.
    stale = on_sla_timer(step.request, deadline, ERRAND_SLA, at=deadline.due_at)
    assert stale.outcome is EscalationOutcome.STALE


def test_deadline_at_the_district_is_reported_as_breached() -> None:
    top = request(level=L.DISTRICT)
    deadline = timer(clock_timers(top, ERRAND_SLA, started_at=AT), TimerKind.SLA_DEADLINE, SlaClock.RESOLVE)

    step = on_sla_timer(top, deadline, ERRAND_SLA, at=deadline.due_at)

    assert step.outcome is EscalationOutcome.AT_TOP
    assert [(e.type, e.data["responsible_role"]) for e in step.events] == [(REQUEST_SLA_BREACHED, "district")]
    assert step.request == top


def test_accept_clock_stops_once_assigned_but_resolve_clock_escalates_with_volunteer_kept() -> None:
    timers = clock_timers(request(), ERRAND_SLA, started_at=AT)
    assigned = request(S.ASSIGNED, assignee_id="a")

    accept = on_sla_timer(assigned, timer(timers, TimerKind.SLA_DEADLINE, SlaClock.ACCEPT), ERRAND_SLA, at=AT)
    resolve = on_sla_timer(assigned, timer(timers, TimerKind.SLA_DEADLINE, SlaClock.RESOLVE), ERRAND_SLA, at=AT)

    assert accept.outcome is EscalationOutcome.STALE and accept.events == ()
    assert resolve.outcome is EscalationOutcome.ESCALATED
    assert (resolve.request.status, resolve.request.assignee_id, resolve.request.level) == (
        S.ASSIGNED,
        "a",
        L.COMMUNITY,
    )
    assert {t.clock for t in resolve.timers} == {"resolve"}


@pytest.mark.parametrize(
    ("level", "outcome", "event_type", "role"),
    [
        (L.GRID, EscalationOutcome.ESCALATED, REQUEST_ESCALATED, "community_director"),
        (L.COMMUNITY, EscalationOutcome.ESCALATED, REQUEST_ESCALATED, "street_office"),
        (L.STREET, EscalationOutcome.ESCALATED, REQUEST_ESCALATED, "district"),
        (L.DISTRICT, EscalationOutcome.AT_TOP, REQUEST_UNMATCHED, "district"),
    ],
)
def test_a_level_with_nobody_left_hands_over_to_the_next(
    level: L, outcome: EscalationOutcome, event_type: str, role: str
) -> None:
    step = escalate_when_exhausted(request(level=level), ERRAND_SLA, at=AT)

    assert step.outcome is outcome
    assert [(e.type, e.data["responsible_role"]) for e in step.events] == [(event_type, role)]


def test_operator_escalation_is_honoured_and_recorded() -> None:
    step = escalate(
        request(S.OFFERED, offered_to=frozenset({"a"})),
        ERRAND_SLA,
        at=AT,
        by="operator:o7",
        reason="resident called the hotline",
    )

    assert step.request.level is L.COMMUNITY and step.request.offered_to == frozenset()
    assert all(e.by == "operator:o7" for e in step.events)
    assert step.events[-1].reason == "resident called the hotline"


@pytest.mark.parametrize(
    ("stars", "outcome", "status", "redo"),
    [
        (1, EscalationOutcome.REOPENED, S.MATCHING, 1),
        (2, EscalationOutcome.REOPENED, S.MATCHING, 1),
        (3, EscalationOutcome.RATED, S.RATED, 0),
        (5, EscalationOutcome.RATED, S.RATED, 0),
    ],
)
def test_low_rating_reopens_as_redo_with_fresh_clocks(
    stars: int, outcome: EscalationOutcome, status: RequestStatus, redo: int
) -> None:
    resolved = request(S.RESOLVED, assignee_id="a")

    step = rate(resolved, stars, ERRAND_SLA, at=AT, by="resident:r")

    assert (step.outcome, step.request.status, step.request.redo_count) == (outcome, status, redo)
    assert all(t.generation == redo for t in step.timers)
    assert bool(step.timers) == (outcome is EscalationOutcome.REOPENED)


def test_not_done_report_reopens_and_old_timers_go_stale() -> None:
    old = clock_timers(request(S.ASSIGNED, assignee_id="a"), ERRAND_SLA, started_at=AT)
    step = report_not_done(request(S.RESOLVED, assignee_id="a"), ERRAND_SLA, at=AT, by="resident:r")

    assert (step.outcome, step.request.redo_count) == (EscalationOutcome.REOPENED, 1)
    assert all(on_sla_timer(step.request, t, ERRAND_SLA, at=t.due_at).outcome is EscalationOutcome.STALE for t in old)


def test_rating_an_unresolved_request_is_rejected() -> None:
    step = rate(request(S.IN_PROGRESS, assignee_id="a"), 5, ERRAND_SLA, at=AT, by="resident:r")

    assert step.outcome is EscalationOutcome.REJECTED
    assert "cannot rate a request that is in_progress" in step.events[0].reason


# A whole request driven through the domain, as the dispatcher would, with simulated time.

XINING = ZoneInfo("Asia/Shanghai")
ALL_WEEK = tuple(WeeklyWindow(day, time(0), time(0)) for day in range(7))
GRID = Place("chengzhong", "nanchuan", "xueyuanxiang", "g1")
PLACES = [
    GRID,
    Place("chengzhong", "nanchuan", "xueyuanxiang", "g2"),
    Place("chengzhong", "nanchuan", "junying", "g3"),
    Place("chengzhong", "guchengtai", "qingzhenxiang", "g4"),
]
ERRAND_OFFERS = OfferPolicy.one_at_a_time(10 * MIN)


class Dispatcher:
    """Drives one request: match, offer, answer, escalate; `answers` stand in for volunteers and time."""

    def __init__(self, volunteers: list[Volunteer], answers: list[tuple[str, int]], sla: SlaPolicy) -> None:
        self.volunteers, self.answers, self.sla = volunteers, iter(answers), sla
        self.now = AT
        self.request = RequestState("r1")
        self.timers: list[Timer] = []
        self.events: list[StatusEvent] = []
        self.tried: set[str] = set()
        self.offers: OfferStep | None = None
        self.at_top = False

    def run(self, max_steps: int = 200) -> None:
        self.apply(StartMatching())
        self.timers += clock_timers(self.request, self.sla, started_at=self.now)
        for _ in range(max_steps):
            if self.request.status in TERMINAL_STATUSES or self.at_top:
                return
            self.step()

    def apply(self, command: StartMatching | StartWork | Resolve | Expire) -> None:
        result = apply(self.request, command, at=self.now)
        assert not isinstance(result, Rejection), result.reason
        self.request = result.state
        self.events += result.events

    def take(self, step: OfferStep) -> None:
        self.offers, self.request = step, step.request
        self.events += step.events
        self.timers += step.timers
        self.tried |= {e.volunteer_id for e in step.events if e.type == REQUEST_OFFERED and e.volunteer_id}

    def step(self) -> None:
        action, minutes = next(self.answers, ("wait", 60))
        until = self.now + minutes * MIN
        while due := sorted((t for t in self.timers if t.due_at <= until), key=lambda t: t.due_at):
            self.fire(due[0])
            if self.request.status in TERMINAL_STATUSES or self.at_top:
                return
        self.now = until
        status = self.request.status
        if status is S.ESCALATED:
            self.apply(StartMatching())
        elif status is S.MATCHING:
            self.match()
        elif status is S.OFFERED and self.offers is not None:
            holder = sorted(self.request.offered_to)[0]
            spare = {v.volunteer_id: 1 for v in self.volunteers}
            if action == "accept":
                self.take(accept_offer(self.request, self.offers.rounds, holder, at=self.now, spare_capacity=spare))
            elif action == "decline":
                self.take(decline_offer(self.request, self.offers.rounds, holder, at=self.now, spare_capacity=spare))
            self.exhausted_check()
        elif status is S.ASSIGNED:
            self.apply(StartWork(volunteer_id=self.request.assignee_id or ""))
        elif status is S.IN_PROGRESS and action != "wait":
            self.apply(Resolve(volunteer_id=self.request.assignee_id))
        elif status is S.RESOLVED:
            stars = 1 if action == "decline" and self.request.redo_count < 2 else 4
            self.escalation(rate(self.request, stars, self.sla, at=self.now, by="resident:r"))

    def match(self) -> None:
        wanted = MatchRequest(
            "r1", GRID, self.request.level, frozenset({"errand"}), already_tried=frozenset(self.tried)
        )
        ranked = rank_candidates(wanted, self.volunteers, at=self.now, local_tz=XINING)
        spare = {v.volunteer_id: 1 for v in self.volunteers}
        self.take(start_offers(self.request, ranked.candidate_ids, ERRAND_OFFERS, at=self.now, spare_capacity=spare))
        self.exhausted_check()

    def exhausted_check(self) -> None:
        if self.offers is not None and self.offers.outcome is OfferOutcome.EXHAUSTED:
            self.escalation(escalate_when_exhausted(self.request, self.sla, at=self.now))

    def escalation(self, step: EscalationStep) -> None:
        assert step.outcome is not EscalationOutcome.REJECTED, step.events
        self.request = step.request
        self.events += step.events
        self.timers += step.timers
        self.at_top = self.at_top or step.outcome is EscalationOutcome.AT_TOP

    def fire(self, due: Timer) -> None:
        self.timers.remove(due)
        self.now = max(self.now, due.due_at)
        if due.kind in (TimerKind.OFFER_TIMEOUT, TimerKind.OFFER_WIDEN):
            if self.offers is not None:
                spare = {v.volunteer_id: 1 for v in self.volunteers}
                self.take(on_offer_timer(self.request, self.offers.rounds, due, at=self.now, spare_capacity=spare))
                self.exhausted_check()
            return
        self.escalation(on_sla_timer(self.request, due, self.sla, at=self.now))


def volunteer(volunteer_id: str, home: Place) -> Volunteer:
    return Volunteer(volunteer_id, home, skills=frozenset({"errand"}), windows=ALL_WEEK)


def test_request_in_a_grid_with_volunteers_is_offered_accepted_and_resolved() -> None:
    answers = [("go", 1), ("accept", 5), ("go", 5), ("go", 30), ("go", 5)]
    dispatcher = Dispatcher([volunteer("v1", GRID)], answers, ERRAND_SLA)

    dispatcher.run()

    assert (dispatcher.request.status, dispatcher.request.level, dispatcher.request.assignee_id) == (
        S.RATED,
        L.GRID,
        "v1",
    )
    assert REQUEST_ESCALATED not in [e.type for e in dispatcher.events]


def test_request_in_an_empty_grid_climbs_the_ladder_on_time() -> None:
    street_volunteer = volunteer("v3", PLACES[2])
    dispatcher = Dispatcher([street_volunteer], [("wait", 1)] * 10 + [("accept", 1)], ERRAND_SLA)

    dispatcher.run(max_steps=6)

    escalations = [e for e in dispatcher.events if e.type == REQUEST_ESCALATED]
    assert [e.data["to_level"] for e in escalations] == ["community", "street"]
    assert all(e.at - AT <= 30 * MIN for e in escalations), "an empty level escalates at once, not at its deadline"
    assert [e.volunteer_id for e in dispatcher.events if e.type == REQUEST_OFFERED] == ["v3"]


def test_unanswered_offers_climb_the_ladder_by_the_accept_deadline() -> None:
    dispatcher = Dispatcher([volunteer(f"v{i}", GRID) for i in range(9)], [("wait", 5)] * 30, ERRAND_SLA)

    dispatcher.run(max_steps=12)

    (escalated, *_) = [e for e in dispatcher.events if e.type == REQUEST_ESCALATED]
    assert escalated.at == AT + 30 * MIN
    assert escalated.reason == "accept deadline passed at grid level"


ANSWERS = st.lists(st.tuples(st.sampled_from(["accept", "decline", "wait", "go"]), st.integers(1, 90)), max_size=80)


@settings(deadline=None, max_examples=60)
@given(homes=st.lists(st.sampled_from(PLACES), max_size=8), answers=ANSWERS)
def test_every_simulated_request_ends_terminal_or_escalated_to_the_top(
    homes: list[Place], answers: list[tuple[str, int]]
) -> None:
    volunteers = [volunteer(f"v{i}", home) for i, home in enumerate(homes)]
    dispatcher = Dispatcher(volunteers, answers, ERRAND_SLA)

    dispatcher.run(max_steps=400)

    assert dispatcher.request.status in TERMINAL_STATUSES or (
        dispatcher.at_top and dispatcher.request.level is L.DISTRICT
    )
    levels = [e.level for e in dispatcher.events]
    assert levels == sorted(levels), "a request never drops back a level"
    by_id = {v.volunteer_id: v for v in volunteers}
    for offer in (e for e in dispatcher.events if e.type == REQUEST_OFFERED):
        assert offer.volunteer_id is not None
        assert by_id[offer.volunteer_id].home.within(GRID, offer.level)
