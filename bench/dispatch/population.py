"""A district like the reports' Chengzhong, held in memory the way its dispatch owner holds it.

321 grids (the reports' figure) in 46 communities of 7 street offices; volunteers are placed on random
grids, so a small district has empty grids and a request there climbs the ladder as it would in life.
Volunteers become roster entries through `district.volunteer_of`, the same conversion the owner applies
to the documents it restores, with their load set before the roster is built with `Roster.of`, as
`district.restored_roster` does. Reference data goes into a `ReferenceCache` with `put()`: no
database is read.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from services.dispatch.district import District, volunteer_of
from services.dispatch.domain.matching import Place, Volunteer
from services.dispatch.domain.roster import Roster
from services.dispatch.handlers import Rules
from services.dispatch.reference import Key, Keys, ReferenceCache
from services.dispatch.request import OfferDefaults
from shared.mongo import Document

DISTRICT: Final = "chengzhong"
TIMEZONE: Final = "Asia/Shanghai"
GRIDS: Final = 321
COMMUNITIES: Final = 46
STREET_OFFICES: Final = 7
# A Wednesday at 10:00 local time: inside most availability windows, as on a working morning.
NOW: Final = datetime(2026, 12, 2, 10, 0, tzinfo=ZoneInfo(TIMEZONE))

SKILLS: Final = ("errand", "repair", "care", "paperwork", "welfare_check")
SKILL_SHARE: Final = (0.6, 0.3, 0.3, 0.2, 0.15)
# The demo menu's shape: an everyday errand, an urgent repair and a critical welfare check; most are errands.
MENU: Final[tuple[Document, ...]] = (
    {
        "code": "errand.groceries",
        "urgency": "normal",
        "required_skills": ["errand"],
        "deadlines": {"grid": {"accept_minutes": 30, "resolve_minutes": 180}},
    },
    {
        "code": "repair.pipe",
        "urgency": "high",
        "required_skills": ["repair"],
        "deadlines": {"grid": {"accept_minutes": 30, "resolve_minutes": 240}},
    },
    {
        "code": "welfare.check",
        "urgency": "critical",
        "required_skills": ["welfare_check"],
        "deadlines": {"grid": {"accept_minutes": 5, "resolve_minutes": 30}},
    },
)
MENU_WEIGHTS: Final = (0.7, 0.2, 0.1)
OFF_DUTY_SHARE: Final = 0.1
AT_CAPACITY_SHARE: Final = 0.1
INACTIVE_SHARE: Final = 0.05


def grid_id(g: int) -> str:
    return f"g{g:03d}"


def community_of(g: int) -> int:
    return g * COMMUNITIES // GRIDS


def community_id(c: int) -> str:
    return f"c{c:02d}"


def street_office_id(c: int) -> str:
    return f"s{c * STREET_OFFICES // COMMUNITIES}"


def place_of(g: int) -> Place:
    c = community_of(g)
    return Place(DISTRICT, street_office_id(c), community_id(c), grid_id(g))


def reference_cache() -> ReferenceCache:
    """Every document dispatch asks the cache for, put in by hand: fetching would be a bug here."""

    async def no_database(key: Key) -> Document | None:
        raise AssertionError(f"the benchmark has no database: {key} should have been put in the cache")

    cache = ReferenceCache(no_database, ttl_seconds=float("inf"))
    cache.put(Keys.district(DISTRICT), {"_id": DISTRICT, "timezone": TIMEZONE, "name_zh": "城中区", "phone": "0971"})
    for s in range(STREET_OFFICES):
        cache.put(Keys.street_office(DISTRICT, f"s{s}"), {"_id": f"s{s}", "responsible_name": "主任"})
    for c in range(COMMUNITIES):
        cache.put(Keys.community(DISTRICT, community_id(c)), {"_id": community_id(c), "director_name": "书记"})
        for item in MENU:
            document = {"_id": f"{community_id(c)}:{item['code']}", "community_id": community_id(c), **item}
            cache.put(Keys.menu_item(DISTRICT, community_id(c), item["code"]), document)
    for g in range(GRIDS):
        place = place_of(g)
        grid = {"_id": place.grid_id, "community_id": place.community_id, "street_office_id": place.street_office_id}
        cache.put(Keys.grid(DISTRICT, place.grid_id), grid)
        cache.put(Keys.team_of_grid(DISTRICT, place.grid_id), {"captain_volunteer_id": None})
    return cache


@dataclass(frozen=True)
class Population:
    """The district's volunteers as the admin stores them, and where each one lives."""

    volunteers: int
    seed: int

    def documents(self) -> Iterator[Document]:
        rng = random.Random(self.seed)
        for i in range(self.volunteers):
            yield volunteer_document(i, rng)

    def grids_of(self) -> dict[str, list[str]]:
        """Volunteer ids per grid, for picking a resident's linked heart among their neighbours."""
        by_grid: dict[str, list[str]] = {}
        for document in self.documents():
            by_grid.setdefault(document["grid_id"], []).append(document["_id"])
        return by_grid


def volunteer_document(i: int, rng: random.Random) -> Document:
    """One volunteer: mostly errand runners, some repairers and welfare checkers, a third with weekly windows."""
    g = rng.randrange(GRIDS)
    place = place_of(g)
    skills = sorted(s for s, p in zip(SKILLS, SKILL_SHARE, strict=True) if rng.random() < p) or ["errand"]
    languages = ["zh", *(["hui"] if rng.random() < 0.15 else []), *(["en"] if rng.random() < 0.1 else [])]
    availability: list[dict[str, Any]] = []
    if rng.random() < 0.3:  # the rest gave none: always available
        start = rng.choice(("08:00", "09:00", "14:00", "18:00"))
        end = {"08:00": "12:00", "09:00": "17:00", "14:00": "20:00", "18:00": "22:00"}[start]
        availability = [{"weekday": d, "start": start, "end": end} for d in sorted(rng.sample(range(7), 4))]
    return {
        "_id": f"v{i:07d}",
        "district_id": DISTRICT,
        "street_office_id": place.street_office_id,
        "community_id": place.community_id,
        "grid_id": place.grid_id,
        "skills": skills,
        "languages": languages,
        "availability": availability,
        "capacity": rng.choice((1, 2, 3, 3)),
        "active": rng.random() >= INACTIVE_SHARE,
        "on_duty": rng.random() >= OFF_DUTY_SHARE,
        "location": {"lat": 36.6 + rng.random() * 0.1, "lon": 101.75 + rng.random() * 0.1}
        if rng.random() < 0.5
        else None,
    }


def restore_roster(population: Population) -> Roster:
    """The roster as the owner restores it (`Roster.of`): profiles with the load held (some full) and past
    assignments already set, each bucket sorted once."""
    rng = random.Random(population.seed + 1)

    def loaded(document: Document) -> Volunteer:
        # Half were assigned before, at some time in the last fortnight: the load order is not the id order.
        last = NOW - timedelta(seconds=rng.randrange(14 * 86400)) if rng.random() < 0.5 else None
        volunteer = volunteer_of(DISTRICT, document)
        held = volunteer.capacity if rng.random() < AT_CAPACITY_SHARE else 0
        return replace(volunteer, open_assignments=held, last_assigned_at=last)

    return Roster.of(loaded(document) for document in population.documents())


def district(population: Population, roster: Roster | None = None) -> District:
    return District(
        DISTRICT,
        reference=reference_cache(),
        rules=Rules(offers=OfferDefaults()),
        tz=ZoneInfo(TIMEZONE),
        roster=restore_roster(population) if roster is None else roster,
    )
