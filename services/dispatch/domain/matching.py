"""Who may take a request at its current level, in which order, and why each volunteer was left out."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from enum import StrEnum
from typing import Final

from services.dispatch.domain.states import EscalationLevel, require_aware

EARTH_RADIUS_KM: Final = 6371.0088
_NEVER: Final = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Coordinates:
    lat: float
    lon: float


@dataclass(frozen=True)
class Place:
    district_id: str
    street_office_id: str
    community_id: str
    grid_id: str

    def within(self, other: Place, level: EscalationLevel) -> bool:
        """Same area as `other` at `level`; compares the whole path so ids need only be unique locally."""
        path = (self.district_id, self.street_office_id, self.community_id, self.grid_id)
        other_path = (other.district_id, other.street_office_id, other.community_id, other.grid_id)
        depth = len(path) - level
        return path[:depth] == other_path[:depth]


@dataclass(frozen=True)
class WeeklyWindow:
    """Local wall-clock availability; an `end` at or before `start` runs past midnight into the next day."""

    weekday: int  # Monday is 0, as datetime.weekday()
    start: time
    end: time

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0..6, not {self.weekday}")

    def covers(self, local: datetime) -> bool:
        now, day = local.time().replace(tzinfo=None), local.weekday()
        if self.start < self.end:
            return day == self.weekday and self.start <= now < self.end
        return (day == self.weekday and now >= self.start) or (day == (self.weekday + 1) % 7 and now < self.end)


# Seven whole days: how a volunteer who gave no availability is treated.
ALWAYS_AVAILABLE: Final = tuple(WeeklyWindow(day, time(0), time(0)) for day in range(7))


@dataclass(frozen=True)
class Volunteer:
    volunteer_id: str
    home: Place
    skills: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    windows: tuple[WeeklyWindow, ...] = ()
    capacity: int = 1
    open_assignments: int = 0
    last_assigned_at: datetime | None = None
    active: bool = True
    location: Coordinates | None = None
    on_duty: bool = True
    # Whole local days away (first, last), both included: set by the volunteer on their phone page.
    leave: tuple[tuple[date, date], ...] = ()

    def on_leave(self, day: date) -> bool:
        return any(first <= day <= last for first, last in self.leave)

    @property
    def spare(self) -> int:
        return self.capacity - self.open_assignments if self.active else 0


@dataclass(frozen=True)
class MatchRequest:
    request_id: str
    place: Place
    level: EscalationLevel
    required_skills: frozenset[str] = frozenset()
    language: str | None = None
    linked_heart_ids: frozenset[str] = frozenset()
    location: Coordinates | None = None
    already_tried: frozenset[str] = frozenset()


class ExclusionCode(StrEnum):
    INACTIVE = "inactive"
    OUTSIDE_LEVEL = "outside_level"
    ALREADY_TRIED = "already_tried"
    MISSING_SKILLS = "missing_skills"
    AT_CAPACITY = "at_capacity"
    UNAVAILABLE = "unavailable"
    OFF_DUTY = "off_duty"
    ON_LEAVE = "on_leave"


@dataclass(frozen=True)
class Exclusion:
    volunteer_id: str
    codes: tuple[ExclusionCode, ...]
    explanation: str


@dataclass(frozen=True)
class Candidate:
    rank: int
    volunteer_id: str
    linked_heart: bool
    language_match: bool
    open_assignments: int
    capacity: int
    last_assigned_at: datetime | None
    distance_km: float | None
    explanation: str


@dataclass(frozen=True)
class MatchResult:
    request_id: str
    level: EscalationLevel
    at: datetime
    ranked: tuple[Candidate, ...]
    excluded: tuple[Exclusion, ...]

    @property
    def candidate_ids(self) -> tuple[str, ...]:
        return tuple(c.volunteer_id for c in self.ranked)


def haversine_km(a: Coordinates, b: Coordinates) -> float:
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat, dlon = lat2 - lat1, math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def is_available(volunteer: Volunteer, at: datetime, local_tz: tzinfo) -> bool:
    require_aware(at)
    local = at.astimezone(local_tz)
    return any(window.covers(local) for window in volunteer.windows)


def exclusion_codes(
    request: MatchRequest, volunteer: Volunteer, *, at: datetime, local_tz: tzinfo
) -> tuple[ExclusionCode, ...]:
    """Every reason `volunteer` cannot take `request` now; empty when eligible."""
    checks = (
        (ExclusionCode.INACTIVE, not volunteer.active),
        (ExclusionCode.OUTSIDE_LEVEL, not volunteer.home.within(request.place, request.level)),
        (ExclusionCode.ALREADY_TRIED, volunteer.volunteer_id in request.already_tried),
        (ExclusionCode.MISSING_SKILLS, not request.required_skills <= volunteer.skills),
        (ExclusionCode.AT_CAPACITY, volunteer.open_assignments >= volunteer.capacity),
        (ExclusionCode.UNAVAILABLE, not is_available(volunteer, at, local_tz)),
        (ExclusionCode.OFF_DUTY, not volunteer.on_duty),
        (ExclusionCode.ON_LEAVE, volunteer.on_leave(at.astimezone(local_tz).date())),
    )
    return tuple(code for code, failed in checks if failed)


def rank_candidates(
    request: MatchRequest, volunteers: Iterable[Volunteer], *, at: datetime, local_tz: tzinfo
) -> MatchResult:
    """Eligible volunteers best first, each with its reason, plus everyone left out and why."""
    require_aware(at)
    eligible: list[Volunteer] = []
    excluded: list[Exclusion] = []
    for volunteer in volunteers:
        codes = exclusion_codes(request, volunteer, at=at, local_tz=local_tz)
        if codes:
            excluded.append(Exclusion(volunteer.volunteer_id, codes, _explain_exclusion(request, volunteer, codes)))
        else:
            eligible.append(volunteer)
    eligible.sort(key=lambda v: _rank_key(request, v))
    ranked = tuple(_candidate(request, v, rank) for rank, v in enumerate(eligible, start=1))
    excluded.sort(key=lambda e: e.volunteer_id)
    return MatchResult(request.request_id, request.level, at, ranked, tuple(excluded))


def _distance_km(request: MatchRequest, volunteer: Volunteer) -> float | None:
    if request.location is None or volunteer.location is None:
        return None
    return haversine_km(request.location, volunteer.location)


def _rank_key(request: MatchRequest, volunteer: Volunteer) -> tuple[bool, bool, int, bool, datetime, float, str]:
    distance = _distance_km(request, volunteer)
    last = volunteer.last_assigned_at
    return (
        volunteer.volunteer_id not in request.linked_heart_ids,
        request.language not in volunteer.languages,
        volunteer.open_assignments,
        last is not None,
        last if last is not None else _NEVER,
        # An unknown distance sorts after every known one so the order stays total.
        distance if distance is not None else math.inf,
        volunteer.volunteer_id,
    )


def _candidate(request: MatchRequest, volunteer: Volunteer, rank: int) -> Candidate:
    linked = volunteer.volunteer_id in request.linked_heart_ids
    language = request.language is not None and request.language in volunteer.languages
    distance = _distance_km(request, volunteer)
    parts = [
        "linked heart (连心人) of the resident" if linked else "",
        f"speaks {request.language}" if language else "",
        f"{volunteer.open_assignments} of {volunteer.capacity} assignments open",
        "never assigned before"
        if volunteer.last_assigned_at is None
        else f"last assigned {volunteer.last_assigned_at.isoformat()}",
        f"{distance:.1f} km away" if distance is not None else "",
    ]
    explanation = f"#{rank} {volunteer.volunteer_id}: " + "; ".join(p for p in parts if p)
    return Candidate(
        rank,
        volunteer.volunteer_id,
        linked,
        language,
        volunteer.open_assignments,
        volunteer.capacity,
        volunteer.last_assigned_at,
        distance,
        explanation,
    )


def _explain_exclusion(request: MatchRequest, volunteer: Volunteer, codes: tuple[ExclusionCode, ...]) -> str:
    texts = {
        ExclusionCode.INACTIVE: "not active",
        ExclusionCode.OUTSIDE_LEVEL: f"lives outside this {request.level.wire_name}",
        ExclusionCode.ALREADY_TRIED: "already offered this request",
        ExclusionCode.MISSING_SKILLS: "lacks " + ", ".join(sorted(request.required_skills - volunteer.skills)),
        ExclusionCode.AT_CAPACITY: f"at capacity ({volunteer.open_assignments} of {volunteer.capacity})",
        ExclusionCode.UNAVAILABLE: "not available now",
        ExclusionCode.OFF_DUTY: "off duty",
        ExclusionCode.ON_LEAVE: "on leave today",
    }
    return f"{volunteer.volunteer_id}: " + "; ".join(texts[code] for code in codes)
