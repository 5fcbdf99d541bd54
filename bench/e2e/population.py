"""The bench districts: structure through `gridctl load`, volunteers and closed history written for speed.

Everything the bench adds lives in districts named `e2e-v<volunteers>` (ids prefixed with the district, because
reference ids are global per collection), in the database and topic prefix the services were started with.

- Structure (district, street offices, communities, grids, menu) goes through `gridctl load`, like
  `deploy/demo/chengzhong.yaml`.
- Volunteers are validated with the admin's own model (`VolunteerFields`) and stored with exactly the fields
  `reference_service.upsert` writes; `--volunteers-via api` PUTs them through intake's admin API instead.
- History is closed requests (`rated`, `cancelled`) shaped like the documents dispatch writes for a request
  that went received → matching → offered → assigned → in progress → resolved → rated.

Nothing here reads the database for results: only counts (to top up) and ids (to clean up).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, get_args

import httpx
import yaml
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.intake.reference_models import VolunteerFields, VolunteerKind
from shared.mongo import Document

PREFIX: Final = "e2e-v"
SKILLS: Final = ("errand", "repair", "care", "paperwork", "welfare_check")
SKILL_SHARE: Final = (0.6, 0.3, 0.3, 0.2, 0.15)
KINDS: Final = get_args(VolunteerKind)
ROOT: Final = Path(__file__).resolve().parents[2]
# The demo district's menu without its critical welfare check (its 2-minute offer rounds would fire timers during
# later phases), each with long deadlines for the same reason (like the demo's pension item): the bench's open
# requests must not escalate or expire while other phases are measured.
LONG_DEADLINES: Final = {"grid": {"accept_minutes": 1440, "resolve_minutes": 2880}}
MENU: Final[tuple[Document, ...]] = tuple(
    {**item, "deadlines": LONG_DEADLINES}
    for item in yaml.safe_load((ROOT / "deploy" / "demo" / "chengzhong.yaml").read_text(encoding="utf-8"))["menu"]
    if item.get("urgency") != "critical"
)
# Most requests are errands, as in the reports.
MENU_WEIGHTS: Final = tuple(3.0 if item["category"] == "errand" else 1.0 for item in MENU)
INSERT_BATCH: Final = 2000
CLOSED: Final = ("rated", "cancelled")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Shape:
    """`volunteers` spread `per_grid` per grid, 10 grids per community, 10 communities per street office."""

    volunteers: int
    per_grid: int = 50

    @property
    def district_id(self) -> str:
        return f"{PREFIX}{self.volunteers}"

    @property
    def grids(self) -> int:
        return max(1, math.ceil(self.volunteers / self.per_grid))

    @property
    def communities(self) -> int:
        return max(1, math.ceil(self.grids / 10))

    @property
    def streets(self) -> int:
        return max(1, math.ceil(self.communities / 10))

    def grid_id(self, g: int) -> str:
        return f"{self.district_id}-g{g:05d}"

    def community_of(self, g: int) -> int:
        return g // 10

    def community_id(self, c: int) -> str:
        return f"{self.district_id}-c{c:04d}"

    def street_id(self, s: int) -> str:
        return f"{self.district_id}-s{s:03d}"

    def volunteer_id(self, i: int) -> str:
        return f"{self.district_id}-v{i:06d}"

    def grid_of_volunteer(self, i: int) -> int:
        return i % self.grids


def structure_spec(shape: Shape) -> dict[str, Any]:
    """The district as a `gridctl load` YAML gives it, without volunteers."""
    return {
        "district": {
            "id": shape.district_id,
            "name_zh": f"基准区{shape.volunteers}",
            "name_en": f"E2E bench district ({shape.volunteers} volunteers)",
            "timezone": "Asia/Shanghai",
        },
        "street_offices": [
            {"id": shape.street_id(s), "name_zh": f"街道{s}", "name_en": f"Street office {s}"}
            for s in range(shape.streets)
        ],
        "communities": [
            {
                "id": shape.community_id(c),
                "street_office_id": shape.street_id(c // 10),
                "name_zh": f"社区{c}",
                "name_en": f"Community {c}",
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


def gridctl(*arguments: str) -> str:
    """Run the admin CLI of this virtualenv (same environment: database, topic prefix); returns its stdout."""
    command = [str(Path(sys.executable).with_name("gridctl")), *arguments]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def load_structure(shape: Shape) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", encoding="utf-8", delete=False) as out:
        yaml.safe_dump(structure_spec(shape), out, allow_unicode=True, sort_keys=False)
        path = out.name
    try:
        gridctl("load", path)
    finally:
        Path(path).unlink(missing_ok=True)


def create_key(district_id: str, role: str) -> str:
    return gridctl("keys", "create", "-d", district_id, "-r", role, "-l", "bench-e2e").strip().splitlines()[-1]


def volunteer_body(shape: Shape, i: int, rng: random.Random) -> dict[str, Any]:
    """One volunteer as the admin API takes it (without the id): mostly errand runners, some repairers."""
    skills = sorted(s for s, share in zip(SKILLS, SKILL_SHARE, strict=True) if rng.random() < share) or ["errand"]
    availability: list[dict[str, Any]] = []
    if rng.random() < 0.3:  # the rest are always available (an empty list)
        start, end = rng.choice((("08:00", "12:00"), ("09:00", "17:00"), ("14:00", "20:00"), ("18:00", "22:00")))
        availability = [{"weekday": d, "start": start, "end": end} for d in sorted(rng.sample(range(7), 4))]
    location = {"lat": 36.6 + rng.random() * 0.1, "lon": 101.75 + rng.random() * 0.1} if rng.random() < 0.5 else None
    return {
        "grid_id": shape.grid_id(shape.grid_of_volunteer(i)),
        "name": f"志愿者{i}",
        "kind": rng.choice(KINDS),
        "skills": skills,
        "languages": ["zh", *(["hui"] if rng.random() < 0.15 else []), *(["en"] if rng.random() < 0.1 else [])],
        "capacity": rng.choice((1, 2, 3, 3)),
        "active": rng.random() >= 0.05,
        "phone": f"+86138{i % 10**8:08d}",
        "availability": availability,
        "location": location,
    }


def volunteer_document(shape: Shape, i: int, body: dict[str, Any]) -> Document:
    """What `reference_service.upsert` stores for that body: the model's fields, derived ids, load counters."""
    fields: Document = VolunteerFields.model_validate(body).model_dump(mode="json")
    g = shape.grid_of_volunteer(i)
    c = shape.community_of(g)
    return {
        "_id": shape.volunteer_id(i),
        "district_id": shape.district_id,
        **fields,
        "community_id": shape.community_id(c),
        "street_office_id": shape.street_id(c // 10),
        "open_assignments": 0,
        "last_assigned_at": None,
    }


async def count(db: AsyncDatabase[Document], collection: str, query: Document) -> int:
    return int(await db[collection].count_documents(query))


async def insert_ignoring_duplicates(db: AsyncDatabase[Document], collection: str, documents: list[Document]) -> None:
    try:
        await db[collection].insert_many(documents, ordered=False)
    except BulkWriteError as error:  # a re-run after an interrupted load: the existing ones stay
        if any(e.get("code") != 11000 for e in error.details.get("writeErrors", [])):
            raise


async def ensure_volunteers(
    db: AsyncDatabase[Document], shape: Shape, *, via: str, intake_url: str, progress: Progress, seed: int
) -> float:
    """All `shape.volunteers` volunteers present (deterministic ids and fields); returns seconds spent."""
    present = await count(db, "volunteers", {"district_id": shape.district_id})
    if present >= shape.volunteers:
        progress(f"  {present:,} volunteers already in {shape.district_id}")
        return 0.0
    rng = random.Random(seed + shape.volunteers)
    bodies = [volunteer_body(shape, i, rng) for i in range(shape.volunteers)]
    started = last = time.perf_counter()
    if via == "db":
        for first in range(0, len(bodies), INSERT_BATCH):
            batch = [
                volunteer_document(shape, i, bodies[i]) for i in range(first, min(first + INSERT_BATCH, len(bodies)))
            ]
            await insert_ignoring_duplicates(db, "volunteers", batch)
            if time.perf_counter() - last > 5:
                last = time.perf_counter()
                done = first + len(batch)
                progress(f"  volunteers {done:,}/{len(bodies):,} ({done / (last - started):,.0f}/s)")
    else:
        key = create_key(shape.district_id, "district_admin")
        done = 0
        queue = list(enumerate(bodies))

        async def worker(client: httpx.AsyncClient) -> None:
            nonlocal done, last
            while queue:
                i, body = queue.pop()
                path = f"/v1/districts/{shape.district_id}/volunteers/{shape.volunteer_id(i)}"
                answer = await client.put(path, json=body, headers={"X-API-Key": key})
                if answer.status_code not in (200, 201):
                    raise RuntimeError(f"PUT {path}: {answer.status_code} {answer.text[:200]}")
                done += 1
                if time.perf_counter() - last > 5:
                    last = time.perf_counter()
                    progress(f"  volunteers via API {done:,}/{len(bodies):,} ({done / (last - started):,.0f}/s)")

        async with httpx.AsyncClient(base_url=intake_url, timeout=30) as client:
            await asyncio.gather(*(worker(client) for _ in range(16)))
    seconds = time.perf_counter() - started
    progress(f"  {shape.volunteers:,} volunteers in {shape.district_id} ({via}, {seconds:.1f}s)")
    return seconds


def _event(
    request_id: str, district_id: str, n: int, event_type: str, status: str, at: datetime, **data: Any
) -> Document:
    return {
        "id": f"{request_id}:{n}",
        "type": event_type,
        "source": "dispatch",
        "time": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "district_id": district_id,
        "request_id": request_id,
        "schema_version": 1,
        "data": {
            "status": status,
            "sequence": n,
            "message": data.pop("message", ""),
            "grid_id": data["grid_id"],
            "community_id": data["community_id"],
            "menu_item_code": data["menu_item_code"],
            "level": "grid",
            "volunteer_id": data.get("volunteer_id"),
            "volunteer_ids": [data["volunteer_id"]] if data.get("volunteer_id") else [],
            "reason": data.get("reason"),
            "actor": data["actor"],
            "critical": False,
            "detail": {},
        },
    }


def history_document(shape: Shape, n: int, rng: random.Random, now: datetime) -> Document:
    """A closed request as dispatch leaves it: rated (most) or cancelled by the resident before acceptance."""
    district = shape.district_id
    request_id = uuid.UUID(int=rng.getrandbits(128)).hex
    g = rng.randrange(shape.grids)
    c = shape.community_of(g)
    item = rng.choices(MENU, weights=MENU_WEIGHTS)[0]
    volunteer = shape.volunteer_id(g + shape.grids * rng.randrange(max(1, shape.volunteers // shape.grids)))
    submitted = now - timedelta(days=rng.uniform(1, 180))
    offered = submitted + timedelta(milliseconds=rng.uniform(50, 500))
    accepted = offered + timedelta(minutes=rng.uniform(1, 30))
    started = accepted + timedelta(minutes=rng.uniform(5, 60))
    resolved = started + timedelta(minutes=rng.uniform(10, 120))
    rated = resolved + timedelta(hours=rng.uniform(1, 24))
    cancelled = rng.random() < 0.15
    base = {"grid_id": shape.grid_id(g), "community_id": shape.community_id(c), "menu_item_code": item["code"]}
    resident = "client_app:bench"
    steps: list[tuple[str, str, datetime, str, str | None]] = [
        ("request.received", "submitted", offered, resident, None),
        ("request.matching", "matching", offered, "system:dispatch", None),
        ("request.offered", "offered", offered, "system:dispatch", volunteer),
    ]
    if cancelled:
        steps.append(("request.cancelled", "cancelled", accepted, resident, None))
        commands = ["cancel"]
    else:
        by = f"volunteer:{volunteer}"
        steps += [
            ("request.assigned", "assigned", accepted, by, volunteer),
            ("request.started", "in_progress", started, by, volunteer),
            ("request.resolved", "resolved", resolved, by, volunteer),
            ("request.rated", "rated", rated, resident, volunteer),
        ]
        commands = ["offer.accept", "work.start", "work.complete", "rating"]
    timeline = [
        _event(
            request_id,
            district,
            k + 1,
            kind,
            status,
            at,
            **base,
            actor=actor,
            volunteer_id=who,
            message="request received" if k == 0 else "",
        )
        for k, (kind, status, at, actor, who) in enumerate(steps)
    ]
    closed_at = steps[-1][2]
    decisions: list[Document] = [
        {
            "actor": "system:dispatch",
            "at": offered,
            "candidates": [
                {"explanation": f"#1 {volunteer}: 0 of 3 assignments open", "rank": 1, "volunteer_id": volunteer}
            ],
            "chosen_volunteer_id": None,
            "excluded": [],
            "kind": "match",
            "level": "grid",
            "offered": [volunteer],
            "reason": "ranked candidates at this level; offered in order",
        }
    ]
    if not cancelled:
        decisions.append(
            {
                "actor": f"volunteer:{volunteer}",
                "at": accepted,
                "chosen_volunteer_id": volunteer,
                "kind": "accept",
                "level": "grid",
                "reason": "first to accept the offer",
            }
        )
    deadlines = item["deadlines"]["grid"]
    return {
        "_id": request_id,
        "district_id": district,
        "street_office_id": shape.street_id(c // 10),
        "community_id": base["community_id"],
        "grid_id": base["grid_id"],
        "menu_item_code": item["code"],
        "menu_item": {k: item[k] for k in ("code", "urgency", "required_skills", "deadlines")},
        "urgency": item["urgency"],
        "status": "cancelled" if cancelled else "rated",
        "level": "grid",
        "priority": item["urgency"],
        "resident": {"name": f"居民{n}", "phone": f"+86139{n % 10**8:08d}", "language": None, "id": None},
        "linked_heart_volunteer_id": None,
        "text": "十斤米，一桶油",
        "attributes": {},
        "submitted_by": {"role": "client_app", "subject": "bench"},
        "submitted_at": submitted,
        "created_at": offered,
        "updated_at": closed_at,
        "assigned_volunteer_id": None if cancelled else volunteer,
        "assigned_at": None if cancelled else accepted,
        "offered_volunteer_ids": [],
        "accept_due_at": offered + timedelta(minutes=deadlines["accept_minutes"]),
        "resolve_due_at": offered + timedelta(minutes=deadlines["resolve_minutes"]),
        "sla_due_at": None,
        "clocks": {
            "accept": offered + timedelta(minutes=deadlines["accept_minutes"]),
            "resolve": offered + timedelta(minutes=deadlines["resolve_minutes"]),
        },
        "redo_count": 0,
        "rating": None if cancelled else {"stars": rng.choice((3, 4, 5, 5, 5)), "comment": "好"},
        "notes": [],
        "decisions": decisions,
        "timeline": timeline,
        "offer_rounds": {
            "candidates": [volunteer],
            "cursor": 1,
            "generation": 1,
            "next_widen_at": None,
            "policy": {"first_round": 1, "offer_timeout_seconds": 900.0, "widen_by": 0, "widen_every_seconds": None},
            "round": 1,
        },
        "tried_volunteer_ids": [volunteer],
        "version": len(commands) + 2,
        "sequence": len(timeline),
        "processed_event_ids": [f"{request_id}:submitted"]
        + [f"{request_id}:{command}:{uuid.UUID(int=rng.getrandbits(128)).hex}" for command in commands],
        "fired_timer_ids": [],
        "outbox": [],
        "outbox_pending": False,
        "timers_pending": [],
        "releases_pending": [],
        "waiting": False,
    }


async def top_up_history(
    db: AsyncDatabase[Document], shape: Shape, target: int, *, progress: Progress, seed: int
) -> tuple[int, float]:
    """Exactly `target` closed requests in the district (added, or the surplus of a larger earlier scenario
    deleted); returns (stored now, seconds spent)."""
    started = last = time.perf_counter()
    query: Document = {"district_id": shape.district_id, "status": {"$in": list(CLOSED)}}
    present = await count(db, "requests", query)
    if present > target:
        surplus = [d["_id"] async for d in db.requests.find(query, {"_id": 1}).limit(present - target)]
        for first in range(0, len(surplus), 5000):
            await db.requests.delete_many({"_id": {"$in": surplus[first : first + 5000]}})
        progress(f"  history: {len(surplus):,} closed requests removed, {target:,} left in {shape.district_id}")
        return target, time.perf_counter() - started
    missing = target - present
    if missing <= 0:
        progress(f"  {present:,} closed requests already in {shape.district_id}")
        return present, time.perf_counter() - started
    rng = random.Random(seed * 7919 + present)
    now = datetime.now(UTC)
    for first in range(0, missing, INSERT_BATCH):
        batch = [
            history_document(shape, present + n, rng, now) for n in range(first, min(first + INSERT_BATCH, missing))
        ]
        # A retried batch (FerretDB under load) may find part of itself written already.
        await insert_ignoring_duplicates(db, "requests", batch)
        if time.perf_counter() - last > 5:
            last = time.perf_counter()
            done = first + len(batch)
            progress(f"  history {present + done:,}/{target:,} ({done / (last - started):,.0f} documents/s)")
    seconds = time.perf_counter() - started
    progress(f"  history: {missing:,} closed requests written in {seconds:.1f}s ({target:,} in {shape.district_id})")
    return target, seconds


async def remove_live(db: AsyncDatabase[Document], districts: list[str], *, progress: Progress) -> int:
    """Delete what the bench's own submissions left: open requests, and whatever else carries their district and
    a request id (timers, status events). Few queries: on FerretDB v1 each filter here reads the collection."""
    live = [
        d["_id"]
        async for d in db.requests.find(
            {"district_id": {"$in": districts}, "status": {"$nin": list(CLOSED)}}, {"_id": 1}
        )
    ]
    if not live:
        return 0
    for collection in sorted(set(await db.list_collection_names()) - {"requests", "api_keys", "districts"}):
        with contextlib.suppress(Exception):  # a collection some version of the services does not have
            await db[collection].delete_many({"district_id": {"$in": districts}, "request_id": {"$exists": True}})
    for first in range(0, len(live), 5000):
        await db.requests.delete_many({"_id": {"$in": live[first : first + 5000]}})
    progress(f"  removed {len(live):,} open requests left by bench phases (and their timers and status events)")
    return len(live)


async def remove_all(db: AsyncDatabase[Document], districts: list[str], *, progress: Progress) -> None:
    """`--cleanup`: everything of the bench districts, reference data and keys included."""
    await remove_live(db, districts, progress=progress)
    for collection in sorted(await db.list_collection_names()):
        await db[collection].delete_many({"district_id": {"$in": districts}})
    await db.districts.delete_many({"_id": {"$in": districts}})
    progress(f"  removed the bench districts {', '.join(districts)}")
