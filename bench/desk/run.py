"""Benchmark the hotline desk's look-up of a caller by phone as the district grows.

    deploy/native/stack.sh start
    .venv/bin/python bench/desk/run.py [--sizes 1000,10000] [--lookups 200]

For each size, a fresh database of the stack (MONGODB_URI, FerretDB on PostgreSQL) gets that many households
(one in four without a phone, reached through a building leader who speaks for eight households) and two
requests per household, with the owners' indexes (intake's on `residents`, dispatch's on `requests`). It then
times the reads of one look-up, as `services/intake/routes/desk.py` does them: households by phone and by
proxy phone (two indexed equalities), the requests of up to 10 of them by `resident_id` and the requests filed
with the phone. The baseline, in the same run, is the same look-up on the nested fields (`proxy.phone`,
`resident.phone`) that FerretDB v1 cannot serve from an index. The last table compares every size with the
smallest: an indexed equality should stay flat as the district grows. The databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

from services.dispatch.store import DispatchStore
from services.intake import desk
from services.intake.repository import MAX_WRITES_PER_COMMAND, IntakeRepository

Document = dict[str, Any]
DISTRICT = "bench-desk"
HOUSEHOLDS_PER_LEADER = 8


def phone(n: int) -> str:
    return f"+86139{n:08d}"


def households(size: int) -> list[Document]:
    rows = []
    for n in range(size):
        leader = size + n // HOUSEHOLDS_PER_LEADER
        rows.append(
            {
                "_id": f"r-{n}",
                "district_id": DISTRICT,
                "grid_id": f"g-{n % 50}",
                "community_id": f"c-{n % 5}",
                "building": f"{n // 40}栋",
                "unit": f"{n // 10 % 4 + 1}单元",
                "household": str(n % 10 + 101),
                "address": f"某社区{n // 40}栋{n // 10 % 4 + 1}单元{n % 10 + 101}",
                "name": "马秀兰",
                "phone": None if n % 4 == 0 else phone(n),
                "language": "zh",
                "proxy": {"kind": "building_leader", "name": "李建国", "phone": phone(leader)},
                "proxy_phone": phone(leader),
                "vulnerabilities": ["lives_alone"],
                "linked_volunteer_id": None,
                "updated_at": datetime.now(UTC),
            }
        )
    return rows


def requests(size: int) -> list[Document]:
    now = datetime.now(UTC)
    rows = []
    for n in range(size):
        for k in range(2):
            rows.append(
                {
                    "_id": uuid.uuid4().hex,
                    "district_id": DISTRICT,
                    "community_id": f"c-{n % 5}",
                    "grid_id": f"g-{n % 50}",
                    "menu_item_code": "errand.groceries",
                    "status": "resolved",
                    "resident": {"name": "马秀兰", "phone": None if n % 4 == 0 else phone(n), "id": f"r-{n}"},
                    "resident_id": f"r-{n}",
                    "resident_phone": None if n % 4 == 0 else phone(n),
                    "text": "十斤米，一桶油。" * 10,
                    "submitted_at": now - timedelta(days=k),
                }
            )
    return rows


async def insert(collection: Any, documents: list[Document]) -> None:
    for start in range(0, len(documents), MAX_WRITES_PER_COMMAND):
        await collection.insert_many(documents[start : start + MAX_WRITES_PER_COMMAND], ordered=False)


async def look_up(repository: IntakeRepository, caller: str) -> int:
    """The reads of one desk look-up; returns how many documents came back."""
    found = await repository.households_of_phone(DISTRICT, caller, desk.HOUSEHOLDS_LISTED)
    per_household = await asyncio.gather(
        *(
            repository.requests_of_resident(DISTRICT, r["_id"], desk.REQUESTS_READ_PER_HOUSEHOLD)
            for r in found[: desk.HOUSEHOLDS_WITH_REQUESTS]
        )
    )
    by_phone = await repository.requests_with_phone(DISTRICT, caller, desk.REQUESTS_READ_PER_HOUSEHOLD)
    return len(found) + sum(len(r) for r in per_household) + len(by_phone)


async def look_up_nested(db: Any, caller: str) -> int:
    """The baseline: the same households and phone requests by the nested fields (`proxy.phone`,
    `resident.phone`), which FerretDB v1 evaluates over every document."""
    found = [d async for d in db.residents.find({"district_id": DISTRICT, "phone": caller}).limit(50)]
    found += [d async for d in db.residents.find({"district_id": DISTRICT, "proxy.phone": caller}).limit(50)]
    by_phone = [d async for d in db.requests.find({"district_id": DISTRICT, "resident.phone": caller}).limit(100)]
    return len(found) + len(by_phone)


async def measure(client: AsyncMongoClient[Document], size: int, lookups: int) -> dict[str, float]:
    name = f"bench_desk_{size}_{uuid.uuid4().hex[:6]}"
    db = client[name]
    try:
        repository = IntakeRepository(db)
        await repository.ensure_indexes()
        await DispatchStore(db).ensure_indexes()
        started = time.perf_counter()
        await insert(db.residents, households(size))
        await insert(db.requests, requests(size))
        seeded = time.perf_counter() - started
        callers = [phone(n) for n in range(1, size, max(size // lookups, 1)) if n % 4][: lookups // 2]
        callers += [phone(size + n) for n in range(0, size // HOUSEHOLDS_PER_LEADER)][: lookups // 2]
        timings, returned = [], []
        for caller in callers:
            begin = time.perf_counter()
            returned.append(await look_up(repository, caller))
            timings.append((time.perf_counter() - begin) * 1000)
        timings.sort()
        nested = []
        for caller in callers[:: max(len(callers) // 6, 1)][:6]:
            begin = time.perf_counter()
            await look_up_nested(db, caller)
            nested.append((time.perf_counter() - begin) * 1000)
        return {
            "nested_p50_ms": statistics.median(nested),
            "seed_s": seeded,
            "p50_ms": statistics.median(timings),
            "p95_ms": timings[int(len(timings) * 0.95) - 1],
            "returned": statistics.mean(returned),
        }
    finally:
        await client.drop_database(name)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--lookups", type=int, default=200)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    client: AsyncMongoClient[Document] = AsyncMongoClient(os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017"))
    results = {}
    try:
        for size in sizes:
            results[size] = await measure(client, size, args.lookups)
            r = results[size]
            print(
                f"{size:>7} households: seeded in {r['seed_s']:.1f} s; look-up p50 {r['p50_ms']:.1f} ms, "
                f"p95 {r['p95_ms']:.1f} ms ({r['returned']:.1f} documents returned on average); "
                f"baseline on nested fields p50 {r['nested_p50_ms']:.0f} ms (×{r['nested_p50_ms'] / r['p50_ms']:.0f})",
                flush=True,
            )
    finally:
        await client.close()
    base = results[sizes[0]]
    print(f"\nagainst {sizes[0]} households (same run):")
    for size in sizes[1:]:
        r = results[size]
        print(f"{size:>7}: p50 ×{r['p50_ms'] / base['p50_ms']:.2f}, p95 ×{r['p95_ms'] / base['p95_ms']:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
