"""Read model `service_records`: what each volunteer did, per month, for the volunteer and the party branch.

One entry per piece of work: a request's resolution cycle (a redo, 重办, is a new cycle and a new piece
of work, possibly by another volunteer). An entry holds the minutes from start to resolve (or the
volunteer's edit of them, see `check_hours_edit`) and the rating that cycle received. Entries live in two
documents, both read by `_id`:

* `volunteer:{volunteer_id}:{YYYY-MM}` — the volunteer's month;
* `grid:{district_id}:{grid_id}:{YYYY-MM}` — the grid's month (a team is its grid's team; a community's
  month is the sum of its grids' documents, read by `_id` each).

The month is the district's local month of the resolution. Every entry is derived from the request
aggregate alone (its timeline, ratings and hours edits), and written with `$set` on `tasks.<request>-<cycle>`:
writing it twice writes the same, so a redelivered batch or a replay after a crash is harmless, and a
later rating or edit simply overwrites the entry with its new value. No `$inc` anywhere, for that reason;
totals are summed by the reader over a month's entries (tens per volunteer, hundreds per grid).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Final

from services.dispatch.request import Request
from shared.contracts.status import REQUEST_REOPENED, REQUEST_RESOLVED, REQUEST_STARTED
from shared.mongo import Document

COLLECTION: Final = "service_records"
# What a volunteer may change about their own hours (the edit is audited on the request).
EDIT_WITHIN: Final = timedelta(days=31)
EDITS_PER_CYCLE: Final = 3
MAX_MINUTES: Final = 24 * 60


@dataclass(frozen=True)
class Work:
    """One resolution cycle of a request."""

    request_id: str
    cycle: int
    volunteer_id: str
    started_at: datetime | None
    resolved_at: datetime
    measured_minutes: int
    minutes: int
    edited: bool
    stars: int | None

    @property
    def key(self) -> str:
        return f"{self.request_id}-{self.cycle}"


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def measured(started_at: datetime | None, resolved_at: datetime) -> int:
    """Whole minutes from start to resolve, at least 1; a resolve without a start counts 1 minute."""
    if started_at is None:
        return 1
    return max(1, min(MAX_MINUTES, round((resolved_at - started_at).total_seconds() / 60)))


def work_of(request: Request) -> list[Work]:
    """Every resolved cycle of the request, from its timeline (oldest first)."""
    cycle, started_at = 0, None
    stars = {int(r.get("cycle", 0)): int(r["stars"]) for r in request.ratings if r.get("stars") is not None}
    edits: dict[int, int] = {}
    for edit in request.hours_edits:
        edits[int(edit["cycle"])] = int(edit["minutes"])
    done: dict[int, Work] = {}
    for envelope in request.timeline:
        kind, at = envelope.get("type"), _time(envelope.get("time"))
        data = envelope.get("data") or {}
        if kind == REQUEST_STARTED:
            started_at = at
        elif kind == REQUEST_RESOLVED and at is not None:
            volunteer_id = data.get("volunteer_id") or request.state.assignee_id
            if volunteer_id:
                minutes = measured(started_at, at)
                done[cycle] = Work(
                    request.id, cycle, str(volunteer_id), started_at, at, minutes,
                    edits.get(cycle, minutes), cycle in edits, stars.get(cycle),
                )  # fmt: skip
        elif kind == REQUEST_REOPENED:
            cycle, started_at = cycle + 1, None
    return [done[c] for c in sorted(done)]


def month_of(at: datetime, tz: tzinfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m")


def entry(request: Request, work: Work) -> Document:
    return {
        "request_id": work.request_id,
        "cycle": work.cycle,
        "volunteer_id": work.volunteer_id,
        "menu_item_code": request.menu.code,
        "grid_id": request.place.grid_id,
        "community_id": request.place.community_id,
        "started_at": work.started_at,
        "resolved_at": work.resolved_at,
        "measured_minutes": work.measured_minutes,
        "minutes": work.minutes,
        "edited": work.edited,
        "stars": work.stars,
    }


def updates(changed: Iterable[Request], tz: tzinfo) -> list[tuple[str, Document]]:
    """(`_id`, fields to `$set`) of every resolved cycle of the changed requests, into the volunteer's and the
    grid's month."""
    operations: list[tuple[str, Document]] = []
    for request in changed:
        for work in work_of(request):
            month = month_of(work.resolved_at, tz)
            value = entry(request, work)
            place = request.place
            for _id, owner in (
                (f"volunteer:{work.volunteer_id}:{month}", {"volunteer_id": work.volunteer_id}),
                (
                    f"grid:{place.district_id}:{place.grid_id}:{month}",
                    {"grid_id": place.grid_id, "community_id": place.community_id},
                ),
            ):
                fields = {"district_id": place.district_id, "month": month, **owner, f"tasks.{work.key}": value}
                operations.append((_id, fields))
    return operations


def check_hours_edit(request: Request, volunteer_id: str, minutes: int, now: datetime) -> str | None:
    """None when the volunteer may set the last resolved cycle's minutes to `minutes`; else why not.

    Limits: only the volunteer who did the work, within 31 days of resolving, at most 3 edits, and no more
    than twice the measured time plus two hours (a forgotten "start" is the usual reason to edit).
    """
    works = work_of(request)
    if not works:
        return "this request has not been resolved"
    last = works[-1]
    if last.volunteer_id != volunteer_id:
        return "only the volunteer who did the work may edit its hours"
    if now - last.resolved_at > EDIT_WITHIN:
        return f"hours can be edited within {EDIT_WITHIN.days} days of resolving"
    if sum(1 for e in request.hours_edits if int(e["cycle"]) == last.cycle) >= EDITS_PER_CYCLE:
        return f"hours of one task can be edited at most {EDITS_PER_CYCLE} times"
    ceiling = min(MAX_MINUTES, last.measured_minutes * 2 + 120)
    if not 1 <= minutes <= ceiling:
        return f"minutes must be between 1 and {ceiling} for this task"
    return None
