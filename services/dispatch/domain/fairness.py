"""How evenly assignments spread over volunteers in a window: counts, max/min ratio and Gini."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.dispatch.domain.states import require_aware


@dataclass(frozen=True)
class Assignment:
    volunteer_id: str
    assigned_at: datetime
    request_id: str = ""


@dataclass(frozen=True)
class Window:
    """Half-open: `start` included, `end` excluded."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        require_aware(self.start)
        require_aware(self.end)
        if self.end <= self.start:
            raise ValueError("a window must end after it starts")

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True)
class Spread:
    volunteers: int
    assignments: int
    fewest: int
    most: int
    max_min_ratio: float | None  # None when someone had none: the ratio is unbounded
    gini: float


@dataclass(frozen=True)
class FairnessReport:
    window: Window
    counts: Mapping[str, int]
    spread: Spread


def assignment_counts(assignments: Iterable[Assignment], window: Window, roster: Iterable[str] = ()) -> dict[str, int]:
    """Assignments per volunteer in `window`; volunteers on `roster` with none count as zero."""
    counts: Counter[str] = Counter({volunteer_id: 0 for volunteer_id in roster})
    counts.update(a.volunteer_id for a in assignments if window.contains(a.assigned_at))
    return dict(sorted(counts.items()))


def gini(values: Sequence[int]) -> float:
    """0 when everyone has the same load, approaching 1 when one volunteer has all of it."""
    if any(v < 0 for v in values):
        raise ValueError("counts cannot be negative")
    total = sum(values)
    if not values or total == 0:
        return 0.0
    ordered = sorted(values)
    n = len(ordered)
    weighted = sum(rank * value for rank, value in enumerate(ordered, start=1))
    return (2 * weighted) / (n * total) - (n + 1) / n


def spread(counts: Mapping[str, int]) -> Spread:
    values = list(counts.values())
    if not values:
        return Spread(0, 0, 0, 0, None, 0.0)
    fewest, most = min(values), max(values)
    ratio = most / fewest if fewest > 0 else None
    return Spread(len(values), sum(values), fewest, most, ratio, gini(values))


def fairness_report(assignments: Iterable[Assignment], window: Window, roster: Iterable[str] = ()) -> FairnessReport:
    counts = assignment_counts(assignments, window, roster)
    return FairnessReport(window, counts, spread(counts))
