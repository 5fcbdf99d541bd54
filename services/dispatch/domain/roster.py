"""A district's roster in memory: who may be asked at each level, least loaded first, found without a scan.

Every active volunteer sits in sorted buckets per area (their grid, community, street office and the
whole district) and facet (anyone, each skill, each language), ordered by the load part of the ranking
(open assignments, never assigned first, least recently assigned, id). A match walks one bucket from
its start and stops after `want` eligible volunteers (or `scan_limit` looked at), so its cost depends
on how many are asked for, not on how many volunteers the district has. The domain's `rank_candidates`
then orders that short list (linked heart, language, load, distance) exactly as before.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from typing import Final

from services.dispatch.domain.matching import MatchRequest, Volunteer, exclusion_codes
from services.dispatch.domain.states import EscalationLevel

ANYONE: Final = "*"
_NEVER: Final = datetime.min.replace(tzinfo=UTC)

BucketKey = tuple[str, str]  # (area, facet)
LoadKey = tuple[int, bool, datetime, str]


def area_of(volunteer_or_level: EscalationLevel, place_ids: tuple[str, str, str]) -> str:
    """The bucket area of a level for a place given as (street office, community, grid)."""
    street, community, grid = place_ids
    match volunteer_or_level:
        case EscalationLevel.GRID:
            return f"grid:{grid}"
        case EscalationLevel.COMMUNITY:
            return f"community:{community}"
        case EscalationLevel.STREET:
            return f"street:{street}"
    return "district"


def _areas(volunteer: Volunteer) -> tuple[str, ...]:
    ids = (volunteer.home.street_office_id, volunteer.home.community_id, volunteer.home.grid_id)
    return tuple(area_of(level, ids) for level in EscalationLevel)


def _facets(volunteer: Volunteer) -> tuple[str, ...]:
    return (
        ANYONE,
        *(f"skill:{skill}" for skill in sorted(volunteer.skills)),
        *(f"lang:{lang}" for lang in sorted(volunteer.languages)),
    )


def _load_key(volunteer: Volunteer) -> LoadKey:
    last = volunteer.last_assigned_at
    return (volunteer.open_assignments, last is not None, last or _NEVER, volunteer.volunteer_id)


@dataclass(frozen=True)
class Shortlist:
    """What a match looked at: the volunteers to rank (eligible or not) and how many were scanned."""

    volunteers: tuple[Volunteer, ...]
    scanned: int


class Roster:
    """The owner's copy of one district's volunteers and their load; the only place load changes."""

    def __init__(self) -> None:
        self._volunteers: dict[str, Volunteer] = {}
        self._buckets: dict[BucketKey, list[LoadKey]] = {}

    @classmethod
    def of(cls, volunteers: Iterable[Volunteer]) -> Roster:
        """A whole roster at once, load included: each bucket is sorted once (a restore of 100k volunteers
        inserted one by one took seconds of the event loop)."""
        roster = cls()
        for volunteer in volunteers:
            roster._volunteers[volunteer.volunteer_id] = volunteer
            if volunteer.active:
                key = _load_key(volunteer)
                for bucket in cls._bucket_keys(volunteer):
                    roster._buckets.setdefault(bucket, []).append(key)
        for keys in roster._buckets.values():
            keys.sort()
        return roster

    def __len__(self) -> int:
        return len(self._volunteers)

    def __contains__(self, volunteer_id: object) -> bool:
        return volunteer_id in self._volunteers

    def get(self, volunteer_id: str) -> Volunteer | None:
        return self._volunteers.get(volunteer_id)

    def all(self) -> Iterator[Volunteer]:
        return iter(self._volunteers.values())

    def spare(self, volunteer_id: str) -> int:
        volunteer = self._volunteers.get(volunteer_id)
        return volunteer.spare if volunteer is not None else 0

    # -- changes ---------------------------------------------------------------------------------
    def put(self, volunteer: Volunteer) -> None:
        """Add or replace a volunteer's profile; the load the roster counted is kept."""
        old = self._volunteers.get(volunteer.volunteer_id)
        if old is not None:
            volunteer = replace(volunteer, open_assignments=old.open_assignments, last_assigned_at=old.last_assigned_at)
        self._replace(old, volunteer)

    def remove(self, volunteer_id: str) -> None:
        self._replace(self._volunteers.get(volunteer_id), None)

    def assigned(self, volunteer_id: str, at: datetime) -> None:
        old = self._volunteers.get(volunteer_id)
        if old is not None:
            self._replace(old, replace(old, open_assignments=old.open_assignments + 1, last_assigned_at=at))

    def released(self, volunteer_id: str) -> None:
        old = self._volunteers.get(volunteer_id)
        if old is not None and old.open_assignments > 0:
            self._replace(old, replace(old, open_assignments=old.open_assignments - 1))

    def restore_load(self, volunteer_id: str, open_assignments: int, last_assigned_at: datetime | None) -> None:
        old = self._volunteers.get(volunteer_id)
        if old is not None:
            self._replace(old, replace(old, open_assignments=open_assignments, last_assigned_at=last_assigned_at))

    def _replace(self, old: Volunteer | None, new: Volunteer | None) -> None:
        if old is not None:
            self._volunteers.pop(old.volunteer_id, None)
            if old.active:
                key = _load_key(old)
                for bucket in self._bucket_keys(old):
                    keys = self._buckets[bucket]
                    index = bisect.bisect_left(keys, key)
                    if index < len(keys) and keys[index] == key:
                        del keys[index]
                    if not keys:
                        del self._buckets[bucket]
        if new is not None:
            self._volunteers[new.volunteer_id] = new
            if new.active:
                key = _load_key(new)
                for bucket in self._bucket_keys(new):
                    bisect.insort(self._buckets.setdefault(bucket, []), key)

    @staticmethod
    def _bucket_keys(volunteer: Volunteer) -> Iterator[BucketKey]:
        for area in _areas(volunteer):
            for facet in _facets(volunteer):
                yield (area, facet)

    # -- matching --------------------------------------------------------------------------------
    def shortlist(
        self, request: MatchRequest, *, at: datetime, local_tz: tzinfo, want: int, scan_limit: int
    ) -> Shortlist:
        """Up to `want` eligible volunteers by load, then `want` more speaking the resident's language, plus
        the linked heart; the ineligible ones met on the way come along so the decision can say why."""
        place = request.place
        area = area_of(request.level, (place.street_office_id, place.community_id, place.grid_id))
        skills = sorted(request.required_skills)
        facet = min((f"skill:{s}" for s in skills), key=lambda f: len(self._buckets.get((area, f), ())), default=ANYONE)
        seen: dict[str, Volunteer] = {}
        scanned = self._walk(area, facet, request, seen, at=at, local_tz=local_tz, want=want, scan_limit=scan_limit)
        if request.language:
            scanned += self._walk(
                area,
                f"lang:{request.language}",
                request,
                seen,
                at=at,
                local_tz=local_tz,
                want=want,
                scan_limit=scan_limit,
            )
        for linked_id in sorted(request.linked_heart_ids):
            linked = self._volunteers.get(linked_id)
            if linked is not None:
                seen.setdefault(linked_id, linked)
        return Shortlist(tuple(seen.values()), scanned)

    def _walk(
        self,
        area: str,
        facet: str,
        request: MatchRequest,
        seen: dict[str, Volunteer],
        *,
        at: datetime,
        local_tz: tzinfo,
        want: int,
        scan_limit: int,
    ) -> int:
        eligible = scanned = 0
        for key in self._buckets.get((area, facet), ()):
            if eligible >= want or scanned >= scan_limit:
                break
            scanned += 1
            volunteer = self._volunteers[key[3]]
            if not request.required_skills <= volunteer.skills:
                continue  # another facet's bucket: not a candidate, not worth a line in the decision
            seen.setdefault(volunteer.volunteer_id, volunteer)
            if not exclusion_codes(request, volunteer, at=at, local_tz=local_tz):
                eligible += 1
        return scanned
