"""The rates hotline work is judged by, summed from the monthly documents dispatch maintains. No I/O.

- response rate: share of requests that a volunteer took (an `assigned` event) among those received;
- resolution rate: share resolved (`resolved`, also when later rated);
- satisfaction rate: share of ratings of 4 or 5 stars among rated requests;
- on-time closure rate: share of resolved requests resolved before their resolve deadline;
- redo rate: share of resolved requests reopened as a redo (重办);
- median minutes from submission to assignment and to resolution, from the summed histograms.

Cancelled and rejected requests leave the denominators: nobody could have served them. What a request
contributes is decided by dispatch (`services/dispatch/read_models/rates.py`); a window is whole days of
the district's time zone; each month is one document per grouping (`rates_monthly`: its days' tallies and
their total), read by `_id`.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, Final, Literal

GroupBy = Literal["district", "community", "grid", "menu_item"]
COUNTERS: Final = ("received", "responded", "resolved", "rated", "satisfied", "resolved_on_time", "redone")


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


def median_of(histogram: Mapping[int, int]) -> float | None:
    """The median of values kept as {value: count}, as `statistics.median` of the expanded values."""
    total = sum(histogram.values())
    if total == 0:
        return None
    wanted = [(total - 1) // 2, total // 2]  # the middle one, or the two middle ones of an even count
    found: list[int] = []
    seen = 0
    for value, count in sorted(histogram.items()):
        while wanted and wanted[0] < seen + count:
            found.append(value)
            wanted.pop(0)
        seen += count
    return round(sum(found) / len(found), 2)


def _add(histogram: dict[str, int], stored: Mapping[str, int] | None) -> None:
    # Keys stay strings until the end: a month of busy days is tens of thousands of entries to add up.
    get = histogram.get
    for key, count in (stored or {}).items():
        histogram[key] = get(key, 0) + count


def _numeric(histogram: Mapping[str, int]) -> dict[int, int]:
    return {int(key): int(count) for key, count in histogram.items()}


def window_tallies(monthly_documents: Iterable[Mapping[str, Any]], days: Iterable[str]) -> list[str]:
    """The tallies (JSON text) covering the window's days: a month's total where the window holds the whole
    month, else each day of it the window holds (`days.dDD`)."""
    wanted: dict[str, list[str]] = {}
    for day in days:
        wanted.setdefault(day[:7], []).append(day)
    texts: list[str] = []
    for document in monthly_documents:
        month = str(document.get("month"))
        inside = wanted.get(month, [])
        year, number = int(month[:4]), int(month[5:7])
        if len(inside) == calendar.monthrange(year, number)[1]:
            texts.append(document.get("total") or "[]")
            continue
        stored = document.get("days") or {}
        texts += [stored[f"d{day[8:10]}"] for day in inside if f"d{day[8:10]}" in stored]
    return texts


def months_of(days: Iterable[str]) -> list[str]:
    return sorted({day[:7] for day in days})


def sum_tallies(texts: Iterable[str]) -> list[Rates]:
    """Rates per group over the given tallies (days or whole months of one grouping), sorted by group. Each
    is JSON text (FerretDB v1 reads nested documents slowly; see dispatch's `board.as_text`)."""
    counts: dict[str, dict[str, int]] = {}
    to_assign: dict[str, dict[str, int]] = {}
    to_resolve: dict[str, dict[str, int]] = {}
    for text in texts:
        for row in json.loads(text):
            group = str(row["group"])
            tally = counts.setdefault(group, dict.fromkeys(COUNTERS, 0))
            for name in COUNTERS:
                tally[name] += row.get(name) or 0
            _add(to_assign.setdefault(group, {}), row.get("assign_minutes"))
            _add(to_resolve.setdefault(group, {}), row.get("resolve_minutes"))
    return [
        Rates(
            group=group,
            **tally,
            median_minutes_to_assign=median_of(_numeric(to_assign[group])),
            median_minutes_to_resolve=median_of(_numeric(to_resolve[group])),
        )
        for group, tally in sorted(counts.items())
        if tally["received"]
    ]


MAX_WINDOW_DAYS: Final = 366


def days_between(start: datetime, end: datetime, tz: tzinfo) -> list[str]:
    """The district's local days a window [start, end) touches, as `YYYY-MM-DD`: rates are kept per day."""
    first = start.astimezone(tz).date()
    last = (end - timedelta(microseconds=1)).astimezone(tz).date()
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
