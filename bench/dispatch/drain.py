"""Dispatch alone on the real stack: how fast a burst of submissions gets its first decisions on the status topic.

    .venv/bin/python -m bench.dispatch.drain --burst 2000 [--stored 1000]

Starts one dispatch process with a topic prefix and database of its own, loads the demo district, stores
`--stored` closed requests as history, publishes the burst to the requests topic as intake would (pipelined),
and times each request from its submission to its first decision (`request.offered`, `escalated`,
`unmatched` or `rejected`) read back from the status topic. Notify and intake are not in the path, so this
is dispatch's own rate; `bench/e2e` measures the platform through its public API. Prints figures and the
ratio to the database's own single-document insert rate measured in the same run; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from services.admin import reference_data
from services.admin.cli import DEMO_FILE
from shared.contracts import REQUEST_SUBMITTED, EventEnvelope, RequestSubmittedV1, new_event
from shared.kafka import EventPublisher, ensure_topics
from shared.mongo import connect, database
from shared.settings import PlatformSettings
from tests.e2e.service_processes import ServiceProcess

DECISIONS = {"request.offered", "request.escalated", "request.unmatched", "request.rejected"}
GRIDS = ["xgll-01", "xgll-02", "rmje-01", "rmje-02"]


def submission(number: int) -> EventEnvelope:
    request_id = f"bench-{uuid.uuid4().hex[:16]}"
    return new_event(
        event_type=REQUEST_SUBMITTED,
        source="bench",
        district_id="chengzhong",
        request_id=request_id,
        event_id=f"{request_id}:submitted",
        data=RequestSubmittedV1(
            menu_item_code="errand.groceries",
            grid_id=GRIDS[number % len(GRIDS)],
            resident_name="王仁柱",
            resident_phone="13800001234",
            text=f"burst {number}",
        ),
    )


async def run(burst: int, stored: int, logs: Path) -> None:
    run_id = uuid.uuid4().hex[:8]
    env = {
        "GRID_TOPIC_PREFIX": f"bench{run_id}.",
        "MONGODB_DATABASE": f"bench_drain_{run_id}",
        "GRID_ENVIRONMENT": "development",
        "GRID_LOG_LEVEL": "WARNING",
        "DISPATCH_INSTANCE_ID": f"bench-{run_id}",
    }
    settings = PlatformSettings(**{**os.environ, **env})  # type: ignore[arg-type]
    client = connect(settings)
    db = database(client, settings)
    await reference_data.load(db, reference_data.read_yaml(DEMO_FILE))
    history = [
        {"_id": f"h{run_id}-{n}", "district_id": "chengzhong", "grid_id": GRIDS[n % 4], "status": "rated"}
        for n in range(stored)
    ]
    for start in range(0, len(history), 1000):
        await db.requests.insert_many(history[start : start + 1000])
    started = time.perf_counter()
    for n in range(200):
        await db.bench_scratch.insert_one({"_id": n, "at": time.time()})
    insert_rate = 200 / (time.perf_counter() - started)
    await ensure_topics(settings.kafka_bootstrap, settings.topics())
    dispatch = ServiceProcess("dispatch", {**os.environ, **env}, logs)
    await asyncio.to_thread(dispatch.start)
    consumer = AIOKafkaConsumer(
        settings.topics().status, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    publisher = EventPublisher(settings.kafka_bootstrap, 30.0)
    try:
        events = [submission(n) for n in range(burst)]
        sent_at: dict[str, float] = {}
        first = time.perf_counter()
        for start in range(0, burst, 256):
            chunk = events[start : start + 256]
            now = time.perf_counter()
            sent_at.update({e.request: now for e in chunk})
            await publisher.publish_many(settings.topics().requests, chunk)
        accepted = burst / (time.perf_counter() - first)
        decided: dict[str, float] = {}
        deadline = time.perf_counter() + 300
        while len(decided) < burst and time.perf_counter() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    event = EventEnvelope.from_bytes(record.value or b"")
                    if event.type in DECISIONS and event.request_id in sent_at and event.request_id not in decided:
                        decided[event.request_id] = time.perf_counter()
            print(f"\r  {len(decided)}/{burst} decided", end="", file=sys.stderr)
        print(file=sys.stderr)
        last = max(decided.values(), default=first)
        latencies = sorted(decided[r] - sent_at[r] for r in decided)
        drain = len(decided) / (last - first) if decided else 0.0
        quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
        print(f"burst {burst}, {stored} stored: published {accepted:,.0f}/s; {len(decided)} of {burst} decided")
        print(f"drained {drain:,.0f} requests/s (first submit to last first decision)")
        print(f"submit -> first decision: p50 {quantiles[49]:.2f} s, p99 {quantiles[98]:.2f} s")
        print(f"database single-document inserts {insert_rate:,.0f}/s; drain / insert rate {drain / insert_rate:.2f}")
        met = drain >= 200 and len(decided) == burst
        print(f"target drain >= 200/s for the whole burst: {'met' if met else 'missed'}")
    finally:
        await publisher.close()
        await consumer.stop()
        dispatch.stop()
        await client.drop_database(settings.mongodb_database)
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--stored", type=int, default=1000)
    args = parser.parse_args()
    logs = Path("test-artifacts")
    logs.mkdir(exist_ok=True)
    asyncio.run(run(args.burst, args.stored, logs))


if __name__ == "__main__":
    main()
