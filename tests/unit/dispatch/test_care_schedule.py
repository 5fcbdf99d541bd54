"""Schedule expansion of care plans: weekdays, every N days, time zones with and without DST, plan edits."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.dispatch.domain.care import (
    CATCH_UP,
    CarePlan,
    PlanProblem,
    local_instant,
    next_occurrence,
    occurrence_request_id,
    occurrences,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def plan(**schedule: Any) -> CarePlan:
    document = {
        "_id": "p1",
        "district_id": "d",
        "resident_id": "res-1",
        "grid_id": "g1",
        "kind": "check_in",
        "schedule": {"starts_on": "2026-11-30", "window_start": "09:00", "window_end": "11:00", **schedule},
    }
    return CarePlan.of(document)


def test_weekly_on_given_weekdays_in_local_time() -> None:
    weekly = plan(weekdays=[0, 3])  # Monday and Thursday
    days = [o.day for o in occurrences(weekly, SHANGHAI, after=None, until=date(2026, 12, 14))]
    assert days == [date(2026, 11, 30), date(2026, 12, 3), date(2026, 12, 7), date(2026, 12, 10), date(2026, 12, 14)]
    first = next(occurrences(weekly, SHANGHAI, after=None, until=date(2026, 12, 1)))
    # 09:00–11:00 in Shanghai (UTC+8, no DST) is 01:00–03:00 UTC.
    assert first.starts_at == datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    assert first.ends_at == datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    assert first.request_id == "care:p1:2026-11-30" == occurrence_request_id("p1", date(2026, 11, 30))


def test_every_n_days_keeps_its_rhythm_from_the_start_date() -> None:
    every3 = plan(every_days=3)
    days = [o.day for o in occurrences(every3, SHANGHAI, after=date(2026, 12, 1), until=date(2026, 12, 12))]
    assert days == [date(2026, 12, 3), date(2026, 12, 6), date(2026, 12, 9), date(2026, 12, 12)]


def test_ends_on_stops_the_plan() -> None:
    ending = plan(weekdays=[0, 1, 2, 3, 4, 5, 6], ends_on="2026-12-02")
    days = [o.day for o in occurrences(ending, SHANGHAI, after=None, until=date(2027, 1, 1))]
    assert days == [date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 2)]
    after_end = datetime(2026, 12, 3, tzinfo=UTC)
    done = date(2026, 12, 2)
    assert next_occurrence(ending, SHANGHAI, done_through=done, not_before=after_end, now=after_end) is None


def test_shanghai_has_the_same_utc_window_all_year() -> None:
    daily = plan(every_days=1, starts_on="2026-01-01")
    hours = {o.starts_at.hour for o in occurrences(daily, SHANGHAI, after=None, until=date(2026, 12, 31))}
    assert hours == {1}


def test_berlin_window_follows_daylight_saving_time() -> None:
    daily = plan(every_days=1, starts_on="2026-03-27", window_start="09:00", window_end="10:00")
    by_day = {o.day: o for o in occurrences(daily, BERLIN, after=None, until=date(2026, 3, 31))}
    assert by_day[date(2026, 3, 28)].starts_at == datetime(2026, 3, 28, 8, 0, tzinfo=UTC)  # CET, UTC+1
    assert by_day[date(2026, 3, 29)].starts_at == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)  # CEST, UTC+2
    assert all(o.starts_at.astimezone(BERLIN).time() == time(9, 0) for o in by_day.values())


def test_a_time_in_the_spring_gap_moves_forward_and_one_in_the_autumn_fold_is_taken_once() -> None:
    gap = local_instant(date(2026, 3, 29), time(2, 30), BERLIN)
    assert gap.astimezone(BERLIN).time() == time(3, 30)
    fold = local_instant(date(2026, 10, 25), time(2, 30), BERLIN)
    assert fold == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # the first 02:30 (CEST)
    night = plan(every_days=1, starts_on="2026-10-24", window_start="02:00", window_end="03:30")
    days = [o.day for o in occurrences(night, BERLIN, after=None, until=date(2026, 10, 26))]
    assert days == [date(2026, 10, 24), date(2026, 10, 25), date(2026, 10, 26)]  # one per day, not two


def test_next_occurrence_starts_with_the_first_window_not_yet_over() -> None:
    weekly = plan(weekdays=[0, 2])  # Monday, Wednesday
    # Monday 30 Nov 2026 at 10:00 Shanghai: today's window (09–11) is still open.
    now = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    first = next_occurrence(weekly, SHANGHAI, done_through=None, not_before=now, now=now)
    assert first is not None and first.day == date(2026, 11, 30)
    # At 11:30 it is over: the plan begins on Wednesday.
    later = datetime(2026, 11, 30, 3, 30, tzinfo=UTC)
    first = next_occurrence(weekly, SHANGHAI, done_through=None, not_before=later, now=later)
    assert first is not None and first.day == date(2026, 12, 2)


def test_next_occurrence_after_the_last_created_one_and_never_the_same_day_twice() -> None:
    weekly = plan(weekdays=[0, 2])
    now = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    following = next_occurrence(weekly, SHANGHAI, done_through=date(2026, 11, 30), not_before=now, now=now)
    assert following is not None and following.day == date(2026, 12, 2)


def test_an_edit_mid_cycle_applies_from_the_next_date_not_yet_created() -> None:
    weekly = plan(weekdays=[0, 2])
    now = datetime(2026, 11, 30, 2, 30, tzinfo=UTC)  # Monday 10:30: Monday's occurrence was created at 09:00
    # Edited to Mondays and Tuesdays at 15:00: Monday is done already, so the next one is Tuesday at 15:00.
    edited = replace(
        weekly, cadence=replace(weekly.cadence, weekdays=frozenset({0, 1}), window_start=time(15), window_end=time(17))
    )
    following = next_occurrence(edited, SHANGHAI, done_through=date(2026, 11, 30), not_before=now, now=now)
    assert following is not None and following.day == date(2026, 12, 1)
    assert following.starts_at == datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    # Before Monday's was created, the same edit moves Monday's own occurrence to 15:00.
    today = next_occurrence(edited, SHANGHAI, done_through=date(2026, 11, 29), not_before=now, now=now)
    assert today is not None and today.day == date(2026, 11, 30) and today.starts_at.hour == 7


def test_an_outage_is_caught_up_but_not_beyond_the_catch_up_bound() -> None:
    daily = plan(every_days=1)
    now = datetime(2026, 12, 20, 2, 0, tzinfo=UTC)
    since = datetime(2026, 11, 30, tzinfo=UTC)
    # The last one created was 2 days ago: yesterday's is next, late but not lost.
    following = next_occurrence(daily, SHANGHAI, done_through=date(2026, 12, 18), not_before=since, now=now)
    assert following is not None and following.day == date(2026, 12, 19)
    # Three weeks down: only the last CATCH_UP is made up.
    stale = next_occurrence(daily, SHANGHAI, done_through=date(2026, 11, 30), not_before=since, now=now)
    assert stale is not None and stale.ends_at > now - CATCH_UP
    assert stale.day == (now - CATCH_UP).astimezone(SHANGHAI).date()


def test_inactive_plan_has_no_occurrence() -> None:
    now = datetime(2026, 11, 30, tzinfo=UTC)
    paused = replace(plan(weekdays=[0]), active=False)
    assert next_occurrence(paused, SHANGHAI, done_through=None, not_before=now, now=now) is None


@pytest.mark.parametrize(
    "schedule",
    [
        {"weekdays": [0], "window_start": "11:00", "window_end": "09:00"},
        {"window_start": "09:00", "window_end": "10:00"},
        {"weekdays": [0], "every_days": 2},
        {"weekdays": [7]},
        {"every_days": 0},
        {"weekdays": [0], "ends_on": "2026-01-01"},
    ],
)
def test_unusable_schedules_are_refused(schedule: dict[str, Any]) -> None:
    with pytest.raises(PlanProblem):
        plan(**schedule)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(PlanProblem):
        CarePlan.of({"_id": "p", "district_id": "d", "resident_id": "r", "grid_id": "g", "kind": "tea", "schedule": {}})


def test_a_year_of_weekly_occurrences_in_berlin_is_one_per_week_at_local_time() -> None:
    weekly = plan(weekdays=[6], starts_on="2026-01-04", window_start="02:30", window_end="04:00")  # Sundays
    found = list(occurrences(weekly, BERLIN, after=None, until=date(2026, 12, 31)))
    assert len(found) == 52
    week = timedelta(days=7)
    gaps = {b.starts_at - a.starts_at for a, b in itertools.pairwise(found)}
    assert gaps == {week, week + timedelta(hours=1), week - timedelta(hours=1)}  # DST weeks are an hour off in UTC
    assert len({o.day for o in found}) == 52
