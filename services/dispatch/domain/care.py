"""Care plans (scheduled care): what is done for a household, how often, by whom, and who is alerted.

Pure: a plan as the reference-data admin stores it, and the expansion of its cadence into occurrences in
the district's time zone. An occurrence is named by its plan and its **local date** (at most one per plan
and day), and its request id is derived from both, so whoever creates it — the first owner, a new owner
after a rebalance, the same owner after a crash — creates the same request, and finds it if it exists.

Local times are wall-clock times of the district: a window 09:00–11:00 in Asia/Shanghai is 01:00–03:00 UTC
all year; in Europe/Berlin it moves by an hour at the DST changes. A local time that does not exist (the
spring-forward gap) is moved forward by the gap, as a clock on the wall would show it; an ambiguous one
(the autumn fold) is taken at its first instance.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Final, Literal, get_args

CareKind = Literal["check_in", "visit", "errand", "blood_pressure"]
CARE_KINDS: Final = frozenset(get_args(CareKind))
VisitOutcome = Literal["fine", "needs_something", "no_response"]
# The menu item whose terms (skills, deadlines) an occurrence takes when the plan names none; an errand
# names its own (e.g. weekly rice and oil). A district without these items gets dispatch's built-in terms.
KIND_MENU_CODES: Final[Mapping[str, str]] = {
    "check_in": "care.check_in",
    "visit": "care.visit",
    "blood_pressure": "care.blood_pressure",
}
WELFARE_CHECK_CODE: Final = "welfare.check"  # the menu item of the same name, when the district has it
# A plan's next occurrence is looked for this far ahead at most (an every-N-days plan has N ≤ 366).
HORIZON_DAYS: Final = 400
# After an outage, occurrences whose window ended longer ago than this are not created any more.
CATCH_UP: Final = timedelta(days=7)


class PlanProblem(ValueError):
    """A plan that cannot be scheduled (a window that ends before it starts, no weekday, …)."""


@dataclass(frozen=True)
class Cadence:
    """Weekly on `weekdays` (Monday=0), or every `every_days` days from `starts_on`; within a local window."""

    starts_on: date
    window_start: time
    window_end: time
    weekdays: frozenset[int] = frozenset()
    every_days: int | None = None
    ends_on: date | None = None

    def __post_init__(self) -> None:
        if self.window_end <= self.window_start:
            raise PlanProblem("the window must end after it starts (on the same day)")
        if (self.every_days is None) == (not self.weekdays):
            raise PlanProblem("give either weekdays or every_days")
        if self.every_days is not None and not 1 <= self.every_days <= 366:
            raise PlanProblem("every_days must be between 1 and 366")
        if any(not 0 <= d <= 6 for d in self.weekdays):
            raise PlanProblem("weekdays are 0 (Monday) to 6 (Sunday)")
        if self.ends_on is not None and self.ends_on < self.starts_on:
            raise PlanProblem("ends_on is before starts_on")

    def on(self, day: date) -> bool:
        """Whether the plan has an occurrence on this local date."""
        if day < self.starts_on or (self.ends_on is not None and day > self.ends_on):
            return False
        if self.every_days is not None:
            return (day - self.starts_on).days % self.every_days == 0
        return day.weekday() in self.weekdays


@dataclass(frozen=True)
class Contact:
    """Someone to alert when a check-in is missed: the building leader, family, the linked heart."""

    role: str
    name: str = ""
    phone: str | None = None
    volunteer_id: str | None = None

    def stored(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in (
                ("role", self.role),
                ("name", self.name),
                ("phone", self.phone),
                ("volunteer_id", self.volunteer_id),
            )
            if v
        }


@dataclass(frozen=True)
class CarePlan:
    plan_id: str
    district_id: str
    resident_id: str
    grid_id: str
    kind: CareKind
    cadence: Cadence
    menu_item_code: str = ""
    volunteer_id: str | None = None  # the linked heart (连心人) asked first
    alert: tuple[Contact, ...] = ()
    note: str = ""
    active: bool = True

    @property
    def menu_code(self) -> str:
        return self.menu_item_code or KIND_MENU_CODES.get(self.kind, "")

    @property
    def confirms(self) -> bool:
        """A check-in must be confirmed within its window; a missed one opens a welfare check."""
        return self.kind == "check_in"

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> CarePlan:
        """A plan from its stored document (or the announcement carrying it); PlanProblem when unusable."""
        try:
            kind = document["kind"]
            if kind not in CARE_KINDS:
                raise PlanProblem(f"unknown kind {kind!r}")
            schedule = document["schedule"]
            cadence = Cadence(
                starts_on=_date(schedule["starts_on"]),
                ends_on=_date(schedule["ends_on"]) if schedule.get("ends_on") else None,
                window_start=time.fromisoformat(schedule["window_start"]),
                window_end=time.fromisoformat(schedule["window_end"]),
                weekdays=frozenset(int(d) for d in schedule.get("weekdays") or ()),
                every_days=int(schedule["every_days"]) if schedule.get("every_days") else None,
            )
            alert = tuple(
                Contact(
                    role=str(c.get("role") or "contact"),
                    name=str(c.get("name") or ""),
                    phone=c.get("phone"),
                    volunteer_id=c.get("volunteer_id"),
                )
                for c in document.get("alert") or ()
            )
            return cls(
                plan_id=str(document.get("plan_id") or document["_id"]),
                district_id=str(document["district_id"]),
                resident_id=str(document["resident_id"]),
                grid_id=str(document["grid_id"]),
                kind=kind,
                cadence=cadence,
                menu_item_code=str(document.get("menu_item_code") or ""),
                volunteer_id=document.get("volunteer_id") or None,
                alert=alert,
                note=str(document.get("note") or ""),
                active=bool(document.get("active", True)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, PlanProblem):
                raise
            raise PlanProblem(f"care plan {document.get('_id')!r}: {exc!r}") from exc


def _date(value: Any) -> date:
    return value if isinstance(value, date) and not isinstance(value, datetime) else date.fromisoformat(str(value))


@dataclass(frozen=True)
class Occurrence:
    """One due piece of care: the plan's work on one local date, within its window (UTC instants)."""

    plan_id: str
    day: date
    starts_at: datetime
    ends_at: datetime

    @property
    def request_id(self) -> str:
        return occurrence_request_id(self.plan_id, self.day)


def occurrence_request_id(plan_id: str, day: date) -> str:
    """The request of a plan's occurrence: the same whoever creates it and whenever."""
    return f"care:{plan_id}:{day.isoformat()}"


def welfare_check_id(check_in_request_id: str) -> str:
    """The welfare check a missed check-in opens: at most one per check-in."""
    return f"{check_in_request_id}:welfare"


def local_instant(day: date, at: time, tz: tzinfo) -> datetime:
    """The UTC instant of a wall-clock time on a local date; a time in a DST gap moves forward by the gap."""
    # fold=0 takes the offset in force before a transition: in a gap (02:30 on a spring-forward night in
    # Berlin) that lands on the time the wall clock shows after it (03:30); in a fold, on the first 02:30.
    return datetime.combine(day, at).replace(tzinfo=tz, fold=0).astimezone(UTC)


def occurrence_on(plan: CarePlan, day: date, tz: tzinfo) -> Occurrence:
    return Occurrence(
        starts_at=local_instant(day, plan.cadence.window_start, tz),
        plan_id=plan.plan_id,
        day=day,
        ends_at=local_instant(day, plan.cadence.window_end, tz),
    )


def occurrences(plan: CarePlan, tz: tzinfo, *, after: date | None, until: date) -> Iterator[Occurrence]:
    """Every occurrence on a local date after `after` (exclusive; None: from the start) up to `until`."""
    cadence = plan.cadence
    day = cadence.starts_on if after is None else max(after + timedelta(days=1), cadence.starts_on)
    last = until if cadence.ends_on is None else min(until, cadence.ends_on)
    if cadence.every_days is not None:
        # Jump to the next date on the plan's rhythm instead of trying each day.
        offset = (day - cadence.starts_on).days % cadence.every_days
        if offset:
            day += timedelta(days=cadence.every_days - offset)
        step = timedelta(days=cadence.every_days)
    else:
        step = timedelta(days=1)
    while day <= last:
        if cadence.on(day):
            yield occurrence_on(plan, day, tz)
        day += step


def next_occurrence(
    plan: CarePlan, tz: tzinfo, *, done_through: date | None, not_before: datetime, now: datetime
) -> Occurrence | None:
    """The plan's next occurrence to create: on a date after `done_through` (the last one created), whose
    window ends after `not_before` (when the plan began to apply) and after `now - CATCH_UP` (how far
    back an outage is caught up). None when the plan has no more (inactive, ended)."""
    if not plan.active:
        return None
    floor = max(not_before, now - CATCH_UP)
    floor_day = floor.astimezone(tz).date() - timedelta(days=1)
    start_from = floor_day if done_through is None else max(done_through, floor_day)
    until = max(now, floor).astimezone(tz).date() + timedelta(days=HORIZON_DAYS)
    for occurrence in occurrences(plan, tz, after=start_from, until=until):
        if occurrence.ends_at > floor:
            return occurrence
    return None
