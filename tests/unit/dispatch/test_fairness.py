from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.dispatch.domain.fairness import (
    Assignment,
    Spread,
    Window,
    assignment_counts,
    fairness_report,
    gini,
    spread,
)

START = datetime(2014, 6, 1, tzinfo=UTC)
WEEK = Window(START, START + timedelta(days=7))


def assigned(volunteer_id: str, days: float) -> Assignment:
    return Assignment(volunteer_id, START + timedelta(days=days))


def test_counts_only_assignments_inside_the_half_open_window_and_include_idle_volunteers() -> None:
    assignments = [assigned("a", 0), assigned("a", 6.9), assigned("b", 7), assigned("b", -0.1), assigned("c", 3)]

    counts = assignment_counts(assignments, WEEK, roster=["a", "b", "c", "d"])

    assert counts == {"a": 2, "b": 0, "c": 1, "d": 0}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], 0.0),
        ([0, 0, 0], 0.0),
        ([3, 3, 3, 3], 0.0),
        ([0, 0, 0, 4], 0.75),  # one of four does everything: (n-1)/n
        ([1, 2, 3, 4], 0.25),
        ([5], 0.0),
    ],
)
def test_gini(values: list[int], expected: float) -> None:
    assert gini(values) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({}, Spread(0, 0, 0, 0, None, 0.0)),
        ({"a": 2, "b": 2}, Spread(2, 4, 2, 2, 1.0, 0.0)),
        ({"a": 1, "b": 3}, Spread(2, 4, 1, 3, 3.0, 0.25)),
        ({"a": 0, "b": 5}, Spread(2, 5, 0, 5, None, 0.5)),
    ],
)
def test_spread_figures(counts: dict[str, int], expected: Spread) -> None:
    result = spread(counts)

    assert result.gini == pytest.approx(expected.gini)
    assert (result.volunteers, result.assignments, result.fewest, result.most, result.max_min_ratio) == (
        expected.volunteers,
        expected.assignments,
        expected.fewest,
        expected.most,
        expected.max_min_ratio,
    )


def test_report_combines_counts_and_spread() -> None:
    report = fairness_report([assigned("a", 1), assigned("a", 2), assigned("b", 1)], WEEK, roster=["c"])

    assert report.counts == {"a": 2, "b": 1, "c": 0}
    assert (report.spread.most, report.spread.fewest, report.spread.max_min_ratio) == (2, 0, None)


@pytest.mark.parametrize(
    ("start", "end"),
    [(START, START), (START, START - timedelta(days=1)), (datetime(2014, 6, 1), START)],
)
def test_window_must_be_aware_and_forward(start: datetime, end: datetime) -> None:
    with pytest.raises(ValueError, match=r"window|timezone"):
        Window(start, end)


@given(st.lists(st.integers(0, 50), max_size=30), st.randoms(use_true_random=False))
def test_gini_is_bounded_and_ignores_order(values: list[int], rng: random.Random) -> None:
    shuffled = list(values)
    rng.shuffle(shuffled)

    g = gini(values)

    assert 0.0 <= g < 1.0 or g == pytest.approx(0.0)
    assert gini(shuffled) == pytest.approx(g)
    if len(set(values)) <= 1:
        assert g == pytest.approx(0.0)


@given(st.integers(1, 20), st.integers(0, 10))
def test_giving_everyone_the_same_load_is_perfectly_fair(volunteers: int, load: int) -> None:
    counts = {f"v{i}": load for i in range(volunteers)}

    result = spread(counts)

    assert result.gini == pytest.approx(0.0)
    assert result.max_min_ratio == (1.0 if load else None)
