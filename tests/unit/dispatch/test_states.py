from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.dispatch.domain.states import (
    REQUEST_ASSIGNED,
    REQUEST_CANCELLED,
    REQUEST_COMMAND_REJECTED,
    REQUEST_ESCALATED,
    REQUEST_EXPIRED,
    REQUEST_MATCHING,
    REQUEST_OFFER_DECLINED,
    REQUEST_OFFER_EXPIRED,
    REQUEST_OFFER_WITHDRAWN,
    REQUEST_OFFERED,
    REQUEST_RATED,
    REQUEST_REJECTED,
    REQUEST_REOPENED,
    REQUEST_RESOLVED,
    REQUEST_STARTED,
    REQUEST_UNASSIGNED,
    RESPONSIBLE_ROLE,
    TRANSITIONS,
    WITH_VOLUNTEER,
    AcceptOffer,
    Cancel,
    Command,
    DeclineOffer,
    Escalate,
    EscalationLevel,
    Expire,
    ExpireOffer,
    GiveBack,
    OfferTo,
    Rate,
    Reassign,
    Reject,
    Rejection,
    ReportNotDone,
    RequestState,
    RequestStatus,
    Resolve,
    StartMatching,
    StartWork,
    Transition,
    Trigger,
    apply,
    next_level,
)

AT = datetime(2014, 6, 3, 9, 30, tzinfo=UTC)
S = RequestStatus
L = EscalationLevel


def state(status: RequestStatus = S.SUBMITTED, **kwargs: object) -> RequestState:
    return replace(RequestState("r1", status=status), **kwargs)  # type: ignore[arg-type]


OFFERED_AB = state(S.OFFERED, offered_to=frozenset({"a", "b"}))
OFFERED_A = state(S.OFFERED, offered_to=frozenset({"a"}))
ASSIGNED_A = state(S.ASSIGNED, assignee_id="a")
IN_PROGRESS_A = state(S.IN_PROGRESS, assignee_id="a")
RESOLVED_A = state(S.RESOLVED, assignee_id="a")

LEGAL = [
    # (before, command, status after, event types in order)
    (state(), StartMatching(), S.MATCHING, [REQUEST_MATCHING]),
    (state(S.ESCALATED, level=L.COMMUNITY), StartMatching(), S.MATCHING, [REQUEST_MATCHING]),
    (state(S.MATCHING), OfferTo(volunteer_ids=("a",)), S.OFFERED, [REQUEST_OFFERED]),
    (OFFERED_A, OfferTo(volunteer_ids=("b", "c")), S.OFFERED, [REQUEST_OFFERED, REQUEST_OFFERED]),
    (OFFERED_AB, AcceptOffer(volunteer_id="a"), S.ASSIGNED, [REQUEST_OFFER_WITHDRAWN, REQUEST_ASSIGNED]),
    (OFFERED_A, AcceptOffer(volunteer_id="a"), S.ASSIGNED, [REQUEST_ASSIGNED]),
    (OFFERED_A, DeclineOffer(volunteer_id="a"), S.MATCHING, [REQUEST_OFFER_DECLINED]),
    (OFFERED_AB, DeclineOffer(volunteer_id="a"), S.OFFERED, [REQUEST_OFFER_DECLINED]),
    (OFFERED_A, ExpireOffer(volunteer_id="a"), S.MATCHING, [REQUEST_OFFER_EXPIRED]),
    (ASSIGNED_A, StartWork(volunteer_id="a"), S.IN_PROGRESS, [REQUEST_STARTED]),
    (IN_PROGRESS_A, Resolve(volunteer_id="a"), S.RESOLVED, [REQUEST_RESOLVED]),
    (ASSIGNED_A, Resolve(by="operator:o1"), S.RESOLVED, [REQUEST_RESOLVED]),
    (RESOLVED_A, Rate(stars=5), S.RATED, [REQUEST_RATED]),
    (RESOLVED_A, Rate(stars=3), S.RATED, [REQUEST_RATED]),
    (RESOLVED_A, Rate(stars=2), S.MATCHING, [REQUEST_RATED, REQUEST_REOPENED]),
    (RESOLVED_A, ReportNotDone(), S.MATCHING, [REQUEST_REOPENED]),
    (state(S.RATED, rating=5), ReportNotDone(), S.MATCHING, [REQUEST_REOPENED]),
    (state(S.MATCHING), Escalate(), S.ESCALATED, [REQUEST_ESCALATED]),
    (OFFERED_AB, Escalate(), S.ESCALATED, [REQUEST_OFFER_WITHDRAWN, REQUEST_OFFER_WITHDRAWN, REQUEST_ESCALATED]),
    (ASSIGNED_A, Escalate(), S.ASSIGNED, [REQUEST_ESCALATED]),
    (state(S.MATCHING), Reassign(volunteer_id="z", by="operator:o1"), S.ASSIGNED, [REQUEST_ASSIGNED]),
    (ASSIGNED_A, Reassign(volunteer_id="z"), S.ASSIGNED, [REQUEST_UNASSIGNED, REQUEST_ASSIGNED]),
    (OFFERED_A, Reassign(volunteer_id="z"), S.ASSIGNED, [REQUEST_OFFER_WITHDRAWN, REQUEST_ASSIGNED]),
    (state(), Cancel(by="resident:r"), S.CANCELLED, [REQUEST_CANCELLED]),
    (IN_PROGRESS_A, Cancel(), S.CANCELLED, [REQUEST_UNASSIGNED, REQUEST_CANCELLED]),
    (state(), Reject(reason="not on the menu"), S.REJECTED, [REQUEST_REJECTED]),
    (OFFERED_A, Expire(), S.EXPIRED, [REQUEST_OFFER_WITHDRAWN, REQUEST_EXPIRED]),
]


@pytest.mark.parametrize(("before", "command", "after", "event_types"), LEGAL)
def test_legal_command_moves_status_and_emits_events(
    before: RequestState, command: Command, after: RequestStatus, event_types: list[str]
) -> None:
    result = apply(before, command, at=AT)

    assert isinstance(result, Transition)
    assert result.state.status is after
    assert [e.type for e in result.events] == event_types
    assert all(e.request_id == "r1" and e.at == AT and e.by == command.by for e in result.events)


ILLEGAL = [
    # (before, command, words the rejection reason must contain)
    (state(S.ASSIGNED, assignee_id="a"), Rate(stars=5), "cannot rate a request that is assigned"),
    (state(S.MATCHING), Rate(stars=4), "cannot rate"),
    (state(S.ASSIGNED, assignee_id="b"), AcceptOffer(volunteer_id="a"), "cannot accept offer"),
    (OFFERED_A, AcceptOffer(volunteer_id="b"), "holds no open offer"),
    (OFFERED_A, DeclineOffer(volunteer_id="b"), "holds no open offer"),
    (OFFERED_A, OfferTo(volunteer_ids=("a",)), "already holds an offer: a"),
    (state(S.MATCHING), OfferTo(volunteer_ids=()), "distinct volunteers"),
    (state(S.MATCHING), OfferTo(volunteer_ids=("a", "a")), "distinct volunteers"),
    (ASSIGNED_A, StartWork(volunteer_id="b"), "not assigned"),
    (IN_PROGRESS_A, Resolve(volunteer_id="b"), "not assigned"),
    (RESOLVED_A, Rate(stars=0), "1 to 5"),
    (RESOLVED_A, Rate(stars=6), "1 to 5"),
    (state(S.MATCHING, level=L.DISTRICT), Escalate(), "already at district level"),
    (ASSIGNED_A, Reassign(volunteer_id="a"), "already assigned"),
    (state(S.CANCELLED), StartMatching(), "cannot start matching a request that is cancelled"),
    (state(S.RATED), Cancel(), "cannot cancel"),
    (state(S.MATCHING), Reject(), "cannot reject"),
    (RESOLVED_A, Expire(), "cannot expire"),
]


@pytest.mark.parametrize(("before", "command", "words"), ILLEGAL)
def test_illegal_command_is_rejected_with_reason_and_state_unchanged(
    before: RequestState, command: Command, words: str
) -> None:
    result = apply(before, command, at=AT)

    assert isinstance(result, Rejection)
    assert result.state == before
    assert result.event.type == REQUEST_COMMAND_REJECTED
    assert words in result.reason
    assert result.event.data["command"] == command.trigger.value


def sample_command(trigger: Trigger) -> Command:
    samples: dict[Trigger, Command] = {
        Trigger.START_MATCHING: StartMatching(),
        Trigger.OFFER: OfferTo(volunteer_ids=("n",)),
        Trigger.ACCEPT_OFFER: AcceptOffer(volunteer_id="a"),
        Trigger.DECLINE_OFFER: DeclineOffer(volunteer_id="a"),
        Trigger.EXPIRE_OFFER: ExpireOffer(volunteer_id="a"),
        Trigger.START_WORK: StartWork(volunteer_id="a"),
        Trigger.RESOLVE: Resolve(volunteer_id="a"),
        Trigger.RATE: Rate(stars=4),
        Trigger.REOPEN: ReportNotDone(),
        Trigger.ESCALATE: Escalate(),
        Trigger.REASSIGN: Reassign(volunteer_id="n"),
        Trigger.CANCEL: Cancel(),
        Trigger.REJECT: Reject(),
        Trigger.EXPIRE: Expire(),
        Trigger.GIVE_BACK: GiveBack(volunteer_id="a"),
    }
    return samples[trigger]


@pytest.mark.parametrize("status", list(RequestStatus))
@pytest.mark.parametrize("trigger", list(Trigger))
def test_the_table_alone_decides_which_status_accepts_which_command(status: RequestStatus, trigger: Trigger) -> None:
    before = state(status, assignee_id="a", offered_to=frozenset({"a"}) if status is S.OFFERED else frozenset())
    if status is S.OFFERED:
        before = replace(before, assignee_id=None)

    result = apply(before, sample_command(trigger), at=AT)

    assert isinstance(result, Transition) == ((status, trigger) in TRANSITIONS)


def test_only_a_rated_request_leaves_a_terminal_status_and_only_as_a_redo() -> None:
    leaving = {(s, t) for (s, t) in TRANSITIONS if s in {S.RATED, S.CANCELLED, S.REJECTED, S.EXPIRED}}

    assert leaving == {(S.RATED, Trigger.REOPEN)}


def test_low_rating_reopens_as_redo_counted_separately() -> None:
    once = apply(RESOLVED_A, Rate(stars=1), at=AT)
    assert isinstance(once, Transition)
    assert (once.state.redo_count, once.state.assignee_id, once.state.rating) == (1, None, None)
    assert once.events[0].data["stars"] == 1
    assert once.events[1].data == {"redo_count": 1, "cause": "low_rating"}

    again = apply(replace(once.state, status=S.RESOLVED, assignee_id="b"), ReportNotDone(), at=AT)
    assert isinstance(again, Transition)
    assert again.state.redo_count == 2
    assert again.events[0].data["cause"] == "not_done"


def test_escalation_names_the_next_levels_responsible_person() -> None:
    result = apply(state(S.MATCHING, level=L.GRID), Escalate(reason="grid empty"), at=AT)

    assert isinstance(result, Transition)
    assert result.state.level is L.COMMUNITY
    (event,) = result.events
    assert event.data == {"responsible_role": "community_director", "from_level": "grid", "to_level": "community"}
    assert event.reason == "grid empty"


def test_escalating_an_assigned_request_keeps_the_volunteer() -> None:
    result = apply(ASSIGNED_A, Escalate(), at=AT)

    assert isinstance(result, Transition)
    assert (result.state.status, result.state.assignee_id, result.state.level) == (S.ASSIGNED, "a", L.COMMUNITY)


def test_accept_withdraws_every_other_open_offer() -> None:
    before = state(S.OFFERED, offered_to=frozenset({"a", "b", "c"}))

    result = apply(before, AcceptOffer(volunteer_id="b"), at=AT)

    assert isinstance(result, Transition)
    withdrawn = [e.volunteer_id for e in result.events if e.type == REQUEST_OFFER_WITHDRAWN]
    assert withdrawn == ["a", "c"]
    assert result.state.offered_to == frozenset()
    assert result.state.assignee_id == "b"


def test_levels_are_ordered_with_a_responsible_role_each() -> None:
    assert L.GRID < L.COMMUNITY < L.STREET < L.DISTRICT
    assert [next_level(level) for level in L] == [L.COMMUNITY, L.STREET, L.DISTRICT, None]
    assert [RESPONSIBLE_ROLE[level] for level in L] == [
        "team_captain",
        "community_director",
        "street_office",
        "district",
    ]


def test_naive_time_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        apply(state(), StartMatching(), at=datetime(2014, 6, 3, 9, 30))


VOLUNTEERS = st.sampled_from(["a", "b", "c"])
COMMANDS = st.one_of(
    st.just(StartMatching()),
    st.lists(VOLUNTEERS, min_size=1, max_size=3, unique=True).map(lambda ids: OfferTo(volunteer_ids=tuple(ids))),
    VOLUNTEERS.map(lambda v: AcceptOffer(volunteer_id=v)),
    VOLUNTEERS.map(lambda v: DeclineOffer(volunteer_id=v)),
    VOLUNTEERS.map(lambda v: ExpireOffer(volunteer_id=v)),
    VOLUNTEERS.map(lambda v: StartWork(volunteer_id=v)),
    VOLUNTEERS.map(lambda v: Resolve(volunteer_id=v)),
    st.integers(min_value=-1, max_value=7).map(lambda n: Rate(stars=n)),
    st.just(ReportNotDone()),
    st.just(Escalate()),
    VOLUNTEERS.map(lambda v: Reassign(volunteer_id=v)),
    st.just(Cancel()),
    st.just(Reject()),
    st.just(Expire()),
)


@given(st.lists(COMMANDS, max_size=40))
def test_any_command_sequence_keeps_the_aggregate_consistent(commands: list[Command]) -> None:
    current = state()
    for step, command in enumerate(commands):
        result = apply(current, command, at=AT + timedelta(minutes=step))
        if isinstance(result, Rejection):
            assert result.state == current
            assert result.reason
            continue
        assert (current.status, command.trigger) in TRANSITIONS
        assert result.events, "every transition is announced"
        current = result.state
        assert bool(current.offered_to) == (current.status is S.OFFERED)
        if current.status in WITH_VOLUNTEER:
            assert current.assignee_id is not None
        assert current.level >= L.GRID
