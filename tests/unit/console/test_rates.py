"""The three rates (and the others) against values worked out by hand for a small known data set: each
request's contribution as dispatch projects it, the daily documents, and the console's sum over a window."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.console.rates import GroupBy, Rates, days_between, median_of, sum_tallies, window_tallies
from services.dispatch.read_models.backfill import documents_for
from services.dispatch.read_models.rates import MONTHLY_COLLECTION

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
NUMBERS = iter(range(1_000_000))
WINDOW = {"start": datetime(2026, 11, 1, tzinfo=UTC), "end": datetime(2026, 11, 8, tzinfo=UTC)}


def request(
    community: str,
    *,
    assigned_after: int | None = None,
    resolved_after: int | None = None,
    stars: int | None = None,
    status: str = "assigned",
    resolve_within: int | None = None,
    redo: int = 0,
    submitted: datetime = T0,
) -> dict[str, Any]:
    timeline = [{"type": "request.received", "time": submitted.isoformat()}]
    if assigned_after is not None:
        timeline.append(
            {"type": "request.assigned", "time": (submitted + timedelta(minutes=assigned_after)).isoformat()}
        )
    if resolved_after is not None:
        timeline.append(
            {"type": "request.resolved", "time": (submitted + timedelta(minutes=resolved_after)).isoformat()}
        )
    return {
        "_id": f"r-{next(NUMBERS)}",
        "district_id": "chengzhong",
        "community_id": community,
        "grid_id": f"{community}-g1",
        "menu_item_code": "errand.medicine",
        "status": status,
        "submitted_at": submitted,
        "timeline": timeline,
        "rating": {"stars": stars} if stars is not None else None,
        "resolve_due_at": submitted + timedelta(minutes=resolve_within) if resolve_within else None,
        "redo_count": redo,
    }


# Community "a": 5 counted requests (one cancelled one is left out, one outside the window too).
#   r1 assigned at 10 min, resolved at 60 (deadline 120: on time), rated 5
#   r2 assigned at 20 min, resolved at 200 (deadline 180: late), rated 2, redone once
#   r3 assigned at 30 min, not resolved
#   r4 never assigned
#   r5 assigned at 40 min, resolved at 100 (no deadline: on time), rated 4
# response 4/5 = 0.8; resolution 3/5 = 0.6; satisfaction 2/3 = 0.6667; on time 2/3; redo 1/3;
# median to assign median(10, 20, 30, 40) = 25; median to resolve median(60, 200, 100) = 100.
DATA = [
    request("a", assigned_after=10, resolved_after=60, stars=5, status="rated", resolve_within=120),
    request("a", assigned_after=20, resolved_after=200, stars=2, status="rated", resolve_within=180, redo=1),
    request("a", assigned_after=30),
    request("a", status="matching"),
    request("a", assigned_after=40, resolved_after=100, stars=4, status="rated"),
    request("a", status="cancelled"),
    request("a", assigned_after=1, submitted=datetime(2026, 10, 1, tzinfo=UTC)),
    request("b", assigned_after=5, resolved_after=15, status="resolved"),
]


def compute_rates(
    requests: Iterable[Mapping[str, Any]], *, group_by: GroupBy, start: datetime, end: datetime
) -> list[Rates]:
    """What the console shows: dispatch's monthly documents of the requests, summed over the window's days."""
    days = days_between(start, end, UTC)
    pairs = documents_for("chengzhong", [dict(r) for r in requests], ZoneInfo("UTC"), T0)
    months = [d for c, d in pairs if c == MONTHLY_COLLECTION and d["group_by"] == group_by]
    return sum_tallies(window_tallies(months, days))


def test_rates_per_community_match_the_hand_computed_values() -> None:
    a, b = compute_rates(DATA, group_by="community", **WINDOW)

    assert a.group == "a" and a.received == 5
    assert a.response_rate == 0.8
    assert a.resolution_rate == 0.6
    assert a.satisfaction_rate == pytest.approx(0.6667)
    assert a.on_time_closure_rate == pytest.approx(0.6667)
    assert a.redo_rate == pytest.approx(0.3333)
    assert a.median_minutes_to_assign == 25
    assert a.median_minutes_to_resolve == 100
    assert (b.group, b.received, b.response_rate, b.resolution_rate, b.satisfaction_rate) == ("b", 1, 1.0, 1.0, None)


def test_district_rates_pool_every_community() -> None:
    (district,) = compute_rates(DATA, group_by="district", **WINDOW)

    assert district.received == 6
    assert district.response_rate == pytest.approx(5 / 6, abs=1e-4)
    assert district.resolution_rate == pytest.approx(4 / 6, abs=1e-4)
    assert district.median_minutes_to_assign == 20


def test_an_empty_window_has_no_rows() -> None:
    assert compute_rates(DATA, group_by="grid", start=T0 + timedelta(days=30), end=T0 + timedelta(days=31)) == []


def test_a_cancelled_request_leaves_the_day_it_counted_in() -> None:
    (before,) = compute_rates([request("c", assigned_after=5)], group_by="community", **WINDOW)
    cancelled = compute_rates([request("c", assigned_after=5, status="cancelled")], group_by="community", **WINDOW)

    assert before.received == 1 and cancelled == []


def test_medians_of_histograms_are_the_medians_of_the_values() -> None:
    assert median_of({}) is None
    assert median_of({7: 1}) == 7
    assert median_of({10: 1, 20: 1, 30: 1, 40: 1}) == 25
    assert median_of({60: 1, 100: 1, 200: 1}) == 100
    assert median_of({5: 3, 9: 1}) == 5


def test_a_window_is_the_districts_days_it_touches() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")

    assert days_between(WINDOW["start"], WINDOW["end"], UTC) == [f"2026-11-0{d}" for d in range(1, 8)]
    # 2026-11-01T00:00Z is 08:00 in Shanghai; the window's last instant is 07:59 on the 8th there.
    assert days_between(WINDOW["start"], WINDOW["end"], shanghai)[-1] == "2026-11-08"


def test_a_whole_month_in_the_window_is_read_from_its_total() -> None:
    november = {"start": datetime(2026, 11, 1, tzinfo=UTC), "end": datetime(2026, 12, 1, tzinfo=UTC)}
    first_week = compute_rates(DATA, group_by="district", **WINDOW)
    whole_month = compute_rates(DATA, group_by="district", **november)
    pairs = documents_for("chengzhong", [dict(r) for r in DATA], ZoneInfo("UTC"), T0)
    months = [d for c, d in pairs if c == MONTHLY_COLLECTION and d["group_by"] == "district"]
    (month,) = [d for d in months if d["month"] == "2026-11"]
    days = days_between(november["start"], november["end"], UTC)

    assert window_tallies([month], days) == [month["total"]]
    assert whole_month == first_week  # every request of November is in its first week
