"""A synthetic district of a given size, written the way intake's reference-data import writes it.

Documents come from `services.admin.reference_data._documents`, so their shape is exactly what the
admin endpoints and `gridctl import` produce; only the writing differs (plain `insert_many` batches
instead of one upsert per document, because a million upserts would take far longer than the
benchmark). Indexes are the admin's plus everything dispatch's repositories ensure at start.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from pymongo.asynchronous.database import AsyncDatabase

from services.admin import reference_data
from services.dispatch.repository import RequestRepository, TimerRepository, VolunteerRepository
from shared.mongo import Document

DISTRICT: Final = "bench"
SKILLS: Final = ("errand", "repair", "care", "paperwork", "welfare_check")
KINDS: Final = (
    "in_service_party_member",
    "party_representative",
    "grid_leader",
    "grid_worker",
    "building_leader",
    "youth_league_member",
    "volunteer",
)
# The demo menu's shape: an everyday errand, an urgent repair and a critical welfare check.
MENU: Final[tuple[Document, ...]] = (
    {
        "code": "errand.groceries",
        "name_zh": "代购米面油",
        "name_en": "Buy rice, flour and cooking oil",
        "category": "errand",
        "urgency": "normal",
        "required_skills": ["errand"],
        "deadlines": {"grid": {"accept_minutes": 30, "resolve_minutes": 180}},
        "active": True,
    },
    {
        "code": "repair.pipe",
        "name_zh": "疏通下水管道",
        "name_en": "Fix a drain pipe or tap",
        "category": "repair",
        "urgency": "high",
        "required_skills": ["repair"],
        "deadlines": {"grid": {"accept_minutes": 30, "resolve_minutes": 240}},
        "active": True,
    },
    {
        "code": "welfare.check",
        "name_zh": "上门探望（无人应答）",
        "name_en": "Welfare check (no answer at the door)",
        "category": "welfare",
        "urgency": "critical",
        "required_skills": ["welfare_check"],
        "deadlines": {"grid": {"accept_minutes": 5, "resolve_minutes": 30}},
        "active": True,
    },
)
# Most requests are errands, as in the reports.
MENU_WEIGHTS: Final = (0.7, 0.2, 0.1)
INSERT_BATCH: Final = 10_000


@dataclass(frozen=True)
class Shape:
    """How `volunteers` volunteers spread over the district: a fixed number per grid, 10 grids per community…"""

    volunteers: int
    per_grid: int
    grids_per_community: int = 10
    communities_per_street: int = 10

    @property
    def grids(self) -> int:
        return max(1, math.ceil(self.volunteers / self.per_grid))

    @property
    def communities(self) -> int:
        return max(1, math.ceil(self.grids / self.grids_per_community))

    @property
    def streets(self) -> int:
        return max(1, math.ceil(self.communities / self.communities_per_street))

    def grid_id(self, g: int) -> str:
        return f"g{g:06d}"

    def community_of(self, g: int) -> int:
        return g // self.grids_per_community

    def community_id(self, c: int) -> str:
        return f"c{c:05d}"

    def street_id(self, s: int) -> str:
        return f"s{s:04d}"

    def volunteer_id(self, i: int) -> str:
        return f"v{i:07d}"

    def grid_of_volunteer(self, i: int) -> int:
        # Interleaved, so that one insert batch touches every grid like a real import in any order.
        return i % self.grids


def structure_spec(shape: Shape) -> dict[str, Any]:
    """The district, street offices, communities, grids and menu as an import YAML would give them."""
    return {
        "district": {"id": DISTRICT, "name_zh": "基准区", "name_en": "Benchmark District", "timezone": "Asia/Shanghai"},
        "street_offices": [
            {
                "id": shape.street_id(s),
                "name_zh": f"街道{s}",
                "name_en": f"Street office {s}",
                "responsible_name": "主任",
            }
            for s in range(shape.streets)
        ],
        "communities": [
            {
                "id": shape.community_id(c),
                "street_office_id": shape.street_id(c // shape.communities_per_street),
                "name_zh": f"社区{c}",
                "name_en": f"Community {c}",
                "director_name": "书记",
            }
            for c in range(shape.communities)
        ],
        "grids": [
            {
                "id": shape.grid_id(g),
                "community_id": shape.community_id(shape.community_of(g)),
                "name_zh": f"网格{g}",
                "name_en": f"Grid {g}",
            }
            for g in range(shape.grids)
        ],
        "menu": [dict(item) for item in MENU],
    }


def volunteer_spec(shape: Shape, i: int, rng: random.Random) -> dict[str, Any]:
    """One volunteer as an import lists it: mostly errand runners, some repairers and welfare checkers."""
    skills = {s for s, p in zip(SKILLS, (0.6, 0.3, 0.3, 0.2, 0.15), strict=True) if rng.random() < p}
    languages = ["zh", *(["hui"] if rng.random() < 0.15 else []), *(["en"] if rng.random() < 0.1 else [])]
    availability: list[dict[str, Any]] = []
    if rng.random() < 0.3:  # the rest are always available (an empty list)
        start = rng.choice(("08:00", "09:00", "14:00", "18:00"))
        end = {"08:00": "12:00", "09:00": "17:00", "14:00": "20:00", "18:00": "22:00"}[start]
        availability = [{"weekday": d, "start": start, "end": end} for d in sorted(rng.sample(range(7), 4))]
    spec: dict[str, Any] = {
        "id": shape.volunteer_id(i),
        "grid_id": shape.grid_id(shape.grid_of_volunteer(i)),
        "name": f"志愿者{i}",
        "kind": rng.choice(KINDS),
        "skills": sorted(skills) or ["errand"],
        "languages": languages,
        "capacity": rng.choice((1, 2, 3, 3)),
        "active": rng.random() >= 0.05,
        "phone": f"+86138{i:08d}",
        "availability": availability,
        "location": {"lat": 36.6 + rng.random() * 0.1, "lon": 101.75 + rng.random() * 0.1}
        if rng.random() < 0.5
        else None,
    }
    return spec


def volunteer_batches(shape: Shape, seed: int, batch: int = INSERT_BATCH) -> Iterator[list[Document]]:
    """Volunteer documents exactly as `reference_data` builds them, `batch` at a time."""
    rng = random.Random(seed)
    full = structure_spec(shape)
    # Only what `_documents` needs to place a volunteer (grid → community → street office).
    base = {"district": full["district"], "communities": full["communities"], "grids": full["grids"]}
    for first in range(0, shape.volunteers, batch):
        count = min(batch, shape.volunteers - first)
        spec = {**base, "volunteers": [volunteer_spec(shape, i, rng) for i in range(first, first + count)]}
        yield reference_data._documents(spec)["volunteers"]


Progress = Callable[[str], None]


async def populate(db: AsyncDatabase[Document], shape: Shape, *, seed: int, progress: Progress) -> dict[str, float]:
    """Write the district into an empty database, then create the indexes; returns seconds per phase."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    structure = reference_data._documents({**structure_spec(shape), "volunteers": []})
    for collection, documents in structure.items():
        if documents:
            await db[collection].insert_many(documents, ordered=False)
    timings["structure"] = time.perf_counter() - started

    started = time.perf_counter()
    done = 0
    next_report = 0.0
    for documents in volunteer_batches(shape, seed):
        await db.volunteers.insert_many(documents, ordered=False)
        done += len(documents)
        elapsed = time.perf_counter() - started
        if done == shape.volunteers or elapsed >= next_report:
            progress(f"  volunteers inserted {done:>9,}/{shape.volunteers:,}  ({done / elapsed:,.0f}/s)")
            next_report = elapsed + 5.0
    timings["volunteers"] = time.perf_counter() - started

    started = time.perf_counter()
    await reference_data.ensure_indexes(db)
    await RequestRepository(db).ensure_indexes()
    await VolunteerRepository(db).ensure_indexes()
    await TimerRepository(db).ensure_indexes()
    timings["indexes"] = time.perf_counter() - started
    progress(f"  indexes created in {timings['indexes']:.1f}s")
    return timings
