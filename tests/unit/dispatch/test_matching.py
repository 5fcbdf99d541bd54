from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.dispatch.domain.matching import (
    Coordinates,
    ExclusionCode,
    MatchRequest,
    Place,
    Volunteer,
    WeeklyWindow,
    exclusion_codes,
    haversine_km,
    rank_candidates,
)
from services.dispatch.domain.states import EscalationLevel

XINING = ZoneInfo("Asia/Shanghai")
# Tuesday 3 June 2014, 10:00 in Xining.
NOW = datetime(2014, 6, 3, 10, 0, tzinfo=XINING)
TUESDAY = 1
ALL_WEEK = tuple(WeeklyWindow(day, time(0, 0), time(0, 0)) for day in range(7))

L = EscalationLevel
HOME = Place("chengzhong", "nanchuan", "xueyuanxiang", "g1")
SAME_COMMUNITY = Place("chengzhong", "nanchuan", "xueyuanxiang", "g2")
SAME_STREET = Place("chengzhong", "nanchuan", "junying", "g7")
SAME_DISTRICT = Place("chengzhong", "guchengtai", "qingzhenxiang", "g9")
OTHER_DISTRICT = Place("chengxi", "nanchuan", "xueyuanxiang", "g1")


def volunteer(volunteer_id: str, **kwargs: object) -> Volunteer:
    base = Volunteer(volunteer_id, HOME, skills=frozenset({"errand"}), windows=ALL_WEEK, capacity=2)
    return replace(base, **kwargs)  # type: ignore[arg-type]


def request(**kwargs: object) -> MatchRequest:
    base = MatchRequest("r1", HOME, L.GRID, required_skills=frozenset({"errand"}))
    return replace(base, **kwargs)  # type: ignore[arg-type]


def ranked_ids(req: MatchRequest, volunteers: list[Volunteer]) -> list[str]:
    return list(rank_candidates(req, volunteers, at=NOW, local_tz=XINING).candidate_ids)


@pytest.mark.parametrize(
    ("home", "level", "inside"),
    [
        (HOME, L.GRID, True),
        (SAME_COMMUNITY, L.GRID, False),
        (SAME_COMMUNITY, L.COMMUNITY, True),
        (SAME_STREET, L.COMMUNITY, False),
        (SAME_STREET, L.STREET, True),
        (SAME_DISTRICT, L.STREET, False),
        (SAME_DISTRICT, L.DISTRICT, True),
        (OTHER_DISTRICT, L.DISTRICT, False),  # same local ids, different district
    ],
)
def test_level_widens_grid_community_street_district(home: Place, level: L, inside: bool) -> None:
    assert home.within(HOME, level) is inside


@pytest.mark.parametrize(
    ("window", "local", "covered"),
    [
        (WeeklyWindow(TUESDAY, time(9), time(12)), NOW, True),
        (WeeklyWindow(TUESDAY, time(9), time(10)), NOW, False),  # end is exclusive
        (WeeklyWindow(TUESDAY, time(10), time(11)), NOW, True),  # start is inclusive
        (WeeklyWindow(TUESDAY + 1, time(9), time(12)), NOW, False),
        (WeeklyWindow(TUESDAY - 1, time(22), time(11)), NOW, True),  # Monday night into Tuesday
        (WeeklyWindow(TUESDAY - 1, time(22), time(9)), NOW, False),
        (WeeklyWindow(6, time(22), time(6)), datetime(2014, 6, 2, 5, 0, tzinfo=XINING), True),  # Sun->Mon
    ],
)
def test_weekly_window_in_local_time(window: WeeklyWindow, local: datetime, covered: bool) -> None:
    assert window.covers(local) is covered


def test_availability_uses_the_districts_local_time_not_utc() -> None:
    morning = volunteer("v", windows=(WeeklyWindow(TUESDAY, time(9), time(12)),))
    two_utc = datetime(2014, 6, 3, 2, 0, tzinfo=UTC)  # 10:00 in Xining

    assert exclusion_codes(request(), morning, at=two_utc, local_tz=XINING) == ()
    assert exclusion_codes(request(), morning, at=two_utc, local_tz=UTC) == (ExclusionCode.UNAVAILABLE,)


@pytest.mark.parametrize(
    ("changes", "codes"),
    [
        ({}, ()),
        ({"active": False}, (ExclusionCode.INACTIVE,)),
        ({"home": SAME_COMMUNITY}, (ExclusionCode.OUTSIDE_LEVEL,)),
        ({"skills": frozenset({"repair"})}, (ExclusionCode.MISSING_SKILLS,)),
        ({"open_assignments": 2}, (ExclusionCode.AT_CAPACITY,)),
        ({"windows": ()}, (ExclusionCode.UNAVAILABLE,)),
        ({"volunteer_id": "tried"}, (ExclusionCode.ALREADY_TRIED,)),
        ({"leave": ((date(2014, 6, 3), date(2014, 6, 3)),)}, (ExclusionCode.ON_LEAVE,)),
        (
            {"leave": ((date(2014, 6, 1), date(2014, 6, 10)),), "on_duty": False},
            (ExclusionCode.OFF_DUTY, ExclusionCode.ON_LEAVE),
        ),
        ({"leave": ((date(2014, 6, 4), date(2014, 6, 9)), (date(2014, 5, 1), date(2014, 6, 2)))}, ()),
        ({"active": False, "open_assignments": 5}, (ExclusionCode.INACTIVE, ExclusionCode.AT_CAPACITY)),
    ],
)
def test_every_reason_for_exclusion_is_recorded(changes: dict[str, object], codes: tuple[ExclusionCode, ...]) -> None:
    req = request(already_tried=frozenset({"tried"}))
    fields = {key: value for key, value in changes.items() if key != "volunteer_id"}
    candidate = volunteer(str(changes.get("volunteer_id", "v")), **fields)
    result = rank_candidates(req, [candidate], at=NOW, local_tz=XINING)

    if codes:
        (exclusion,) = result.excluded
        assert exclusion.codes == codes
        assert exclusion.explanation
        assert result.ranked == ()
    else:
        assert result.candidate_ids == ("v",)
        assert result.excluded == ()


def test_leave_is_judged_by_the_districts_local_date() -> None:
    # 23:30 UTC on 2 June is 07:30 on 3 June in the district: the leave day has begun there.
    late_utc = datetime(2014, 6, 2, 23, 30, tzinfo=UTC)
    away = volunteer("v", leave=((date(2014, 6, 3), date(2014, 6, 3)),))
    (exclusion,) = rank_candidates(request(), [away], at=late_utc, local_tz=XINING).excluded
    assert exclusion.codes == (ExclusionCode.ON_LEAVE,) and "on leave" in exclusion.explanation
    assert rank_candidates(request(), [away], at=late_utc, local_tz=UTC).candidate_ids == ("v",)


def test_missing_skills_are_named() -> None:
    req = request(required_skills=frozenset({"errand", "medicine"}))
    (exclusion,) = rank_candidates(req, [volunteer("v")], at=NOW, local_tz=XINING).excluded

    assert "lacks medicine" in exclusion.explanation


LAST_WEEK = NOW - timedelta(days=7)
YESTERDAY = NOW - timedelta(days=1)
NEAR = Coordinates(36.6171, 101.7782)
FAR = Coordinates(36.6500, 101.7000)


@pytest.mark.parametrize(
    ("req", "volunteers", "order", "why"),
    [
        (
            request(linked_heart_ids=frozenset({"z"})),
            [volunteer("a"), volunteer("z", open_assignments=1, last_assigned_at=YESTERDAY)],
            ["z", "a"],
            "linked heart beats everything else",
        ),
        (
            request(language="ug"),
            [volunteer("a"), volunteer("b", languages=frozenset({"ug"}), open_assignments=1)],
            ["b", "a"],
            "language beats load",
        ),
        (request(), [volunteer("a", open_assignments=1), volunteer("b")], ["b", "a"], "fewest open assignments"),
        (
            request(),
            [volunteer("a", last_assigned_at=YESTERDAY), volunteer("b", last_assigned_at=LAST_WEEK)],
            ["b", "a"],
            "least recently assigned",
        ),
        (request(), [volunteer("a", last_assigned_at=LAST_WEEK), volunteer("b")], ["b", "a"], "never assigned first"),
        (
            request(location=NEAR),
            [volunteer("a", location=FAR), volunteer("b", location=NEAR)],
            ["b", "a"],
            "nearer first",
        ),
        (
            request(location=NEAR),
            [volunteer("a"), volunteer("b", location=FAR)],
            ["b", "a"],
            "unknown distance after known",
        ),
        (request(), [volunteer("b", location=FAR), volunteer("a")], ["a", "b"], "no request location: id decides"),
        (request(), [volunteer("c"), volunteer("a"), volunteer("b")], ["a", "b", "c"], "tie-break by id"),
    ],
)
def test_ranking_order(req: MatchRequest, volunteers: list[Volunteer], order: list[str], why: str) -> None:
    assert ranked_ids(req, volunteers) == order, why


def test_each_candidate_carries_a_readable_and_a_structured_reason() -> None:
    req = request(linked_heart_ids=frozenset({"a"}), language="ug", location=NEAR)
    (first,) = rank_candidates(
        req, [volunteer("a", languages=frozenset({"ug"}), location=NEAR)], at=NOW, local_tz=XINING
    ).ranked

    assert (first.rank, first.linked_heart, first.language_match, first.open_assignments) == (1, True, True, 0)
    assert first.distance_km == pytest.approx(0.0)
    assert "linked heart" in first.explanation and "speaks ug" in first.explanation
    assert "never assigned" in first.explanation


def test_haversine_matches_a_known_distance() -> None:
    # Xining to Lanzhou is about 195 km as the crow flies.
    assert haversine_km(Coordinates(36.6171, 101.7782), Coordinates(36.0611, 103.8343)) == pytest.approx(195, rel=0.03)


PLACES = st.builds(
    Place,
    st.sampled_from(["d1", "d2"]),
    st.sampled_from(["s1", "s2"]),
    st.sampled_from(["c1", "c2"]),
    st.sampled_from(["g1", "g2"]),
)
SKILLS = st.frozensets(st.sampled_from(["errand", "repair", "medicine", "visit"]), max_size=3)
WINDOWS = st.builds(
    WeeklyWindow,
    st.integers(0, 6),
    st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    st.times().map(lambda t: t.replace(second=0, microsecond=0)),
)
INSTANTS = st.datetimes(min_value=datetime(2014, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC))
VOLUNTEER = st.builds(
    Volunteer,
    volunteer_id=st.just("?"),
    home=PLACES,
    skills=SKILLS,
    languages=st.frozensets(st.sampled_from(["zh", "ug", "bo"]), max_size=2),
    windows=st.lists(WINDOWS, max_size=3).map(tuple),
    capacity=st.integers(0, 3),
    open_assignments=st.integers(0, 4),
    last_assigned_at=st.none() | INSTANTS,
    active=st.booleans(),
    location=st.none() | st.builds(Coordinates, st.floats(36.5, 36.7), st.floats(101.6, 101.9)),
)
VOLUNTEERS = st.lists(VOLUNTEER, max_size=25).map(
    lambda drawn: [replace(v, volunteer_id=f"v{i:02d}") for i, v in enumerate(drawn)]
)
REQUESTS = st.builds(
    MatchRequest,
    st.just("r1"),
    PLACES,
    st.sampled_from(list(L)),
    SKILLS,
    st.none() | st.sampled_from(["zh", "ug"]),
    st.frozensets(st.sampled_from([f"v{i:02d}" for i in range(25)]), max_size=2),
    st.none() | st.builds(Coordinates, st.floats(36.5, 36.7), st.floats(101.6, 101.9)),
)


@given(REQUESTS, VOLUNTEERS, INSTANTS)
def test_candidates_are_inside_the_level_skilled_available_and_under_capacity(
    req: MatchRequest, volunteers: list[Volunteer], at: datetime
) -> None:
    result = rank_candidates(req, volunteers, at=at, local_tz=XINING)
    by_id = {v.volunteer_id: v for v in volunteers}

    for candidate in result.ranked:
        chosen = by_id[candidate.volunteer_id]
        assert chosen.home.within(req.place, req.level)
        assert chosen.open_assignments < chosen.capacity
        assert req.required_skills <= chosen.skills
        assert chosen.active
        assert any(w.covers(at.astimezone(XINING)) for w in chosen.windows)
    ranked, excluded = set(result.candidate_ids), {e.volunteer_id for e in result.excluded}
    assert ranked.isdisjoint(excluded)
    assert ranked | excluded == set(by_id)
    assert [c.rank for c in result.ranked] == list(range(1, len(result.ranked) + 1))


@given(REQUESTS, VOLUNTEERS, INSTANTS, st.randoms(use_true_random=False))
def test_same_inputs_in_any_order_give_the_same_choice(
    req: MatchRequest, volunteers: list[Volunteer], at: datetime, rng: random.Random
) -> None:
    shuffled = list(volunteers)
    rng.shuffle(shuffled)

    first = rank_candidates(req, volunteers, at=at, local_tz=XINING)
    second = rank_candidates(req, shuffled, at=at, local_tz=XINING)

    assert first == second


@given(REQUESTS, VOLUNTEERS, INSTANTS)
def test_a_linked_heart_is_never_ranked_below_a_stranger(
    req: MatchRequest, volunteers: list[Volunteer], at: datetime
) -> None:
    flags = [c.linked_heart for c in rank_candidates(req, volunteers, at=at, local_tz=XINING).ranked]

    assert flags == sorted(flags, reverse=True)
