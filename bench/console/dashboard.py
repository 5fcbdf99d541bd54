"""The operator console's dashboard read as history grows: board and 30-day rates, empty versus N stored.

    .venv/bin/python -m bench.console.dashboard --stored 10000 [--live 100] [--reads 30]

Two districts, each with `--live` open requests (waiting for or held by a volunteer, as a busy desk has at any
moment); one of them also has `--stored` closed requests of the last 60 days as history. All are stored
directly in the database, shaped as dispatch writes them (timelines, decisions, ratings), and the districts'
read models are built from them as dispatch would (`services.dispatch.read_models.backfill`). Then the
console's own app (in process, over ASGI) reads `/console/api/board` and `/console/api/rates` (the default
30 days, and 365 days, per community) for both districts: the ratio shows what history costs.
Prints figures; asserts nothing. The database is the stack's (MONGODB_URI), in a database of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from shared.api_keys import ApiKeyRepository, Role
from shared.mongo import Document, connect, database
from shared.settings import PlatformSettings

COMMUNITIES = ["xgll", "rmje", "dongcheng", "beiyuan"]
ITEMS = ["errand.medicine", "errand.groceries", "repair.light", "visit.welfare"]
LIVE = ["submitted", "offered", "assigned", "in_progress", "escalated"]
PATHS = (
    "/console/api/board",
    "/console/api/rates",  # the last 30 days, per community
    f"/console/api/rates?start={(datetime.now(UTC) - timedelta(days=365)).date().isoformat()}T00:00:00Z",
)


def envelope(request_id: str, district_id: str, kind: str, at: datetime, sequence: int) -> Document:
    return {
        "id": f"{request_id}:{sequence}",
        "type": kind,
        "source": "dispatch",
        "district_id": district_id,
        "request_id": request_id,
        "time": at.isoformat(),
        "data": {"status": kind.split(".")[1], "sequence": sequence, "message": "", "actor": "system:dispatch"},
    }


def stored_request(district_id: str, number: int, now: datetime, rng: random.Random, *, live: bool) -> Document:
    request_id = uuid.uuid4().hex
    community = COMMUNITIES[number % len(COMMUNITIES)]
    submitted = now - timedelta(minutes=rng.uniform(5, 6 * 60) if live else rng.uniform(5, 60 * 24 * 60))
    status = rng.choice(LIVE) if live else rng.choice(["resolved", "rated", "rated", "cancelled"])
    timeline = [envelope(request_id, district_id, "request.received", submitted, 1)]
    assigned_at = resolved_at = None
    if status not in ("submitted", "offered", "escalated", "cancelled"):
        assigned_at = submitted + timedelta(minutes=rng.uniform(1, 90))
        timeline.append(envelope(request_id, district_id, "request.assigned", assigned_at, 2))
    if status in ("resolved", "rated"):
        resolved_at = (assigned_at or submitted) + timedelta(minutes=rng.uniform(10, 300))
        timeline.append(envelope(request_id, district_id, "request.resolved", resolved_at, 3))
    stars = rng.randint(1, 5) if status == "rated" else None
    return {
        "_id": request_id,
        "district_id": district_id,
        "live_district_id": district_id if live else None,
        "community_id": community,
        "grid_id": f"{community}-0{number % 3 + 1}",
        "menu_item_code": ITEMS[number % len(ITEMS)],
        "status": status,
        "level": "grid",
        "priority": "normal",
        "resident": {"name": "王仁柱", "phone": "+8613800001234", "language": "zh"},
        "text": "请帮忙买药" * 5,
        "submitted_at": submitted,
        "updated_at": resolved_at or assigned_at or submitted,
        "assigned_volunteer_id": f"v-{number % 40}" if assigned_at else None,
        "assigned_at": assigned_at,
        "resolved_at": resolved_at,
        "offered_volunteer_ids": [],
        "sla_due_at": submitted + timedelta(hours=3) if live else None,
        "resolve_due_at": submitted + timedelta(hours=3),
        "redo_count": 0,
        "rating": {"stars": stars, "cycle": 0} if stars else None,
        "decisions": [{"kind": "match", "level": "grid", "reason": "nearest with spare capacity", "candidates": []}],
        "timeline": timeline,
        "outbox": [],
        "processed_event_ids": [],
    }


async def preload(db: Any, district_id: str, count: int, live: int) -> list[Document]:
    await db.districts.insert_one({"_id": district_id, "name_zh": "测试区", "timezone": "Asia/Shanghai"})
    rng = random.Random(7)
    now = datetime.now(UTC)
    documents = [stored_request(district_id, n, now, rng, live=n < live) for n in range(live + count)]
    for start in range(0, len(documents), 64):
        await db.requests.insert_many(documents[start : start + 64], ordered=False)
    return documents


async def build_read_models(db: Any, district_id: str, documents: list[Document]) -> bool:
    try:
        from services.dispatch.read_models import backfill
    except ImportError:  # before the read models existed: the console computed everything per read
        return False
    await backfill.rebuild(db, district_id, documents)
    return True


async def timed(client: httpx.AsyncClient, path: str, key: str, reads: int) -> list[float]:
    await client.get(path, headers={"X-API-Key": key})  # warm: connections, caches
    times = []
    for _ in range(reads):
        started = time.perf_counter()
        response = await client.get(path, headers={"X-API-Key": key})
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return times


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[max(int(len(ordered) * 0.95) - 1, 0)]
    return f"median {statistics.median(ordered):7.1f} ms  p95 {p95:7.1f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stored", type=int, default=10_000)
    parser.add_argument("--live", type=int, default=100)
    parser.add_argument("--reads", type=int, default=30)
    args = parser.parse_args()

    from services.console.bootstrap import create_app
    from services.console.settings import ConsoleSettings

    name = f"bench_console_{uuid.uuid4().hex[:6]}"
    os.environ.setdefault("GRID_ENVIRONMENT", "development")  # the development signing key is enough here
    os.environ["MONGODB_DATABASE"] = name
    settings = PlatformSettings()
    client = connect(settings)
    db = database(client, settings)
    try:
        empty, full = "bench-empty", "bench-full"
        started = time.perf_counter()
        fresh = await preload(db, empty, 0, args.live)
        documents = await preload(db, full, args.stored, args.live)
        print(f"stored {args.live} open requests in each district, {args.stored} closed in one, "
              f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
        for district_id, docs in ((empty, fresh), (full, documents)):
            with_models = await build_read_models(db, district_id, docs)
        print("read models:", "built by dispatch's projections" if with_models else "none (console computes per read)")
        keys = ApiKeyRepository(db)
        app = create_app(ConsoleSettings())
        results: dict[tuple[str, str], list[float]] = {}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as http:
            for district_id in (empty, full):
                key = await keys.create(district_id=district_id, role=Role.OPERATOR, subject="bench")
                for path in PATHS:
                    results[(district_id, path)] = await timed(http, path, key, args.reads)
        for path in PATHS:
            base, grown = results[(empty, path)], results[(full, path)]
            ratio = statistics.median(grown) / statistics.median(base)
            label = path.split("?")[0] + (" (365 d)" if "?" in path else "")
            print(f"{label:30} empty: {summary(base)} | {args.stored} stored: {summary(grown)} | ratio {ratio:.2f}x")
    finally:
        await client.drop_database(name)
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
