"""The rates hotline work is judged by, computed from request documents and their timelines. No I/O.

- response rate: share of requests that a volunteer took (an `assigned` event) among those received;
- resolution rate: share resolved (`resolved`, also when later rated);
- satisfaction rate: share of ratings of 4 or 5 stars among rated requests;
- on-time closure rate: share of resolved requests resolved before their resolve deadline;
- redo rate: share of resolved requests reopened as a redo (重办);
- median minutes from submission to assignment and to resolution.

Cancelled and rejected requests leave the denominators: nobody could have served them.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

GroupBy = Literal["district", "community", "grid", "menu_item"]
_GROUP_FIELD: Mapping[GroupBy, str] = {
    "district": "district_id",
    "community": "community_id",
    "grid": "grid_id",
    "menu_item": "menu_item_code",
}
NOT_SERVABLE = frozenset({"cancelled", "rejected"})
SATISFIED_STARS = 4


@dataclass(frozen=True)
class Rates:
    group: str
    received: int
    responded: int
    resolved: int
    rated: int
    satisfied: int
    resolved_on_time: int
    redone: int
    median_minutes_to_assign: float | None
    median_minutes_to_resolve: float | None

    @staticmethod
    def _share(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    @property
    def response_rate(self) -> float | None:
        return self._share(self.responded, self.received)

    @property
    def resolution_rate(self) -> float | None:
        return self._share(self.resolved, self.received)

    @property
    def satisfaction_rate(self) -> float | None:
        return self._share(self.satisfied, self.rated)

    @property
    def on_time_closure_rate(self) -> float | None:
        return self._share(self.resolved_on_time, self.resolved)

    @property
    def redo_rate(self) -> float | None:
        return self._share(self.redone, self.resolved)

    def as_row(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "received": self.received,
            "response_rate": self.response_rate,
            "resolution_rate": self.resolution_rate,
            "satisfaction_rate": self.satisfaction_rate,
            "on_time_closure_rate": self.on_time_closure_rate,
            "redo_rate": self.redo_rate,
            "median_minutes_to_assign": self.median_minutes_to_assign,
            "median_minutes_to_resolve": self.median_minutes_to_resolve,
        }


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def _first_time(timeline: Iterable[Mapping[str, Any]], event_type: str) -> datetime | None:
    times = [_as_datetime(event.get("time")) for event in timeline if event.get("type") == event_type]
    present = [time for time in times if time is not None]
    return min(present) if present else None


@dataclass
class _Tally:
    received: int = 0
    responded: int = 0
    resolved: int = 0
    rated: int = 0
    satisfied: int = 0
    resolved_on_time: int = 0
    redone: int = 0

    def __post_init__(self) -> None:
        self.minutes_to_assign: list[float] = []
        self.minutes_to_resolve: list[float] = []


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def compute_rates(
    requests: Iterable[Mapping[str, Any]], *, group_by: GroupBy, start: datetime, end: datetime
) -> list[Rates]:
    """Rates per group for requests submitted in [start, end), sorted by group."""
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    for request in requests:
        submitted = _as_datetime(request.get("submitted_at")) or _as_datetime(request.get("created_at"))
        if submitted is None or not (start <= submitted < end) or request.get("status") in NOT_SERVABLE:
            continue
        tally = tallies[str(request.get(_GROUP_FIELD[group_by]) or "unknown")]
        timeline = request.get("timeline") or []
        tally.received += 1
        assigned_at = _first_time(timeline, "request.assigned")
        if assigned_at is not None:
            tally.responded += 1
            tally.minutes_to_assign.append((assigned_at - submitted).total_seconds() / 60)
        resolved_at = _first_time(timeline, "request.resolved")
        if resolved_at is not None:
            tally.resolved += 1
            tally.minutes_to_resolve.append((resolved_at - submitted).total_seconds() / 60)
            deadline = _as_datetime(request.get("resolve_due_at"))
            if deadline is None or resolved_at <= deadline:
                tally.resolved_on_time += 1
            if (request.get("redo_count") or 0) > 0 or _first_time(timeline, "request.reopened") is not None:
                tally.redone += 1
        rating = request.get("rating") or {}
        if rating.get("stars") is not None:
            tally.rated += 1
            tally.satisfied += int(rating["stars"] >= SATISFIED_STARS)
    return [
        Rates(
            group=group,
            received=t.received,
            responded=t.responded,
            resolved=t.resolved,
            rated=t.rated,
            satisfied=t.satisfied,
            resolved_on_time=t.resolved_on_time,
            redone=t.redone,
            median_minutes_to_assign=_median(t.minutes_to_assign),
            median_minutes_to_resolve=_median(t.minutes_to_resolve),
        )
        for group, t in sorted(tallies.items())
    ]
