"""The measurements: matches through dispatch's real handler, the outbox after them, the update ceiling, Kafka.

A match is `handlers.handle_submitted` on a fresh `request.submitted`, called in-process on the real
repositories: load the request (a redelivery check), read the grid and the menu item, query the
candidates with the indexes, rank them in the pure domain, open the offer, and insert the aggregate
with its outbox. The repositories are subclassed only to time each database call.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from pymongo.asynchronous.database import AsyncDatabase

from bench.dispatch.population import DISTRICT, MENU, MENU_WEIGHTS, Progress, Shape
from services.dispatch import handlers
from services.dispatch.consumer import RequestEventRouter
from services.dispatch.domain.states import EscalationLevel
from services.dispatch.handlers import Dispatch, now_ms
from services.dispatch.repository import (
    ReferenceRepository,
    RequestRepository,
    TimerRepository,
    VolunteerRepository,
)
from services.dispatch.settings import DispatchEngineSettings
from shared.consumer_loop import ConsumerStats, consume_forever
from shared.contracts import REQUEST_SUBMITTED, Actor, EventEnvelope, RequestSubmittedV1, new_event
from shared.contracts.topics import Topics
from shared.kafka import EventPublisher, ensure_topics, manual_commit_consumer
from shared.mongo import Document

# -- timing the repositories ------------------------------------------------------------------------


class Timings:
    """Seconds and calls per database operation, for the breakdown of one match."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    @contextlib.asynccontextmanager
    async def timed(self, name: str) -> AsyncIterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started
            self.calls[name] += 1

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()


class TimedRequests(RequestRepository):
    def __init__(self, db: AsyncDatabase[Document], timings: Timings) -> None:
        super().__init__(db)
        self._t = timings

    async def get(self, request_id: str) -> Document | None:
        async with self._t.timed("requests.get (find _id)"):
            return await super().get(request_id)

    async def create(self, document: Document) -> bool:
        async with self._t.timed("requests.create (insert)"):
            return await super().create(document)

    async def clear_side_effects(
        self, request_id: str, *, event_ids: set[str], timer_ids: set[str], releases: set[str], attempts: int = 10
    ) -> None:
        async with self._t.timed("outbox: requests.clear_side_effects"):
            await super().clear_side_effects(
                request_id, event_ids=event_ids, timer_ids=timer_ids, releases=releases, attempts=attempts
            )


class TimedTimers(TimerRepository):
    def __init__(self, db: AsyncDatabase[Document], timings: Timings) -> None:
        super().__init__(db)
        self._t = timings

    async def schedule(self, timers: Iterable[Document]) -> None:
        async with self._t.timed("outbox: timers.schedule"):
            await super().schedule(timers)


class TimedVolunteers(VolunteerRepository):
    def __init__(self, db: AsyncDatabase[Document], timings: Timings) -> None:
        super().__init__(db)
        self._t = timings

    async def candidates(
        self,
        *,
        district_id: str,
        level: EscalationLevel,
        area_id: str | None,
        required_skills: Iterable[str],
        language: str | None,
        linked_heart_id: str | None,
        limit: int,
    ) -> list[Document]:
        async with self._t.timed("volunteers.candidates"):
            return await super().candidates(
                district_id=district_id,
                level=level,
                area_id=area_id,
                required_skills=required_skills,
                language=language,
                linked_heart_id=linked_heart_id,
                limit=limit,
            )


class TimedReference(ReferenceRepository):
    def __init__(self, db: AsyncDatabase[Document], timings: Timings) -> None:
        super().__init__(db)
        self._t = timings

    async def grid(self, district_id: str, grid_id: str) -> Document | None:
        async with self._t.timed("reference.grid"):
            return await super().grid(district_id, grid_id)

    async def menu_item(self, district_id: str, community_id: str, code: str) -> Document | None:
        async with self._t.timed("reference.menu_item"):
            return await super().menu_item(district_id, community_id, code)


def dispatch_context(db: AsyncDatabase[Document], settings: DispatchEngineSettings, timings: Timings) -> Dispatch:
    return Dispatch(
        requests=TimedRequests(db, timings),
        volunteers=TimedVolunteers(db, timings),
        reference=TimedReference(db, timings),
        timers=TimedTimers(db, timings),
        settings=settings,
    )


# -- requests -----------------------------------------------------------------------------------------


def submissions(shape: Shape, count: int, seed: int) -> list[EventEnvelope]:
    """`request.submitted` events as intake publishes them: random grids, mostly errands, some languages."""
    rng = random.Random(seed)
    events: list[EventEnvelope] = []
    for n in range(count):
        g = rng.randrange(shape.grids)
        c = shape.community_of(g)
        item = rng.choices(MENU, weights=MENU_WEIGHTS)[0]
        linked = None
        if rng.random() < 0.1:  # a resident with a linked heart (连心人) in the same grid
            linked = shape.volunteer_id(g + shape.grids * rng.randrange(max(1, shape.volunteers // shape.grids)))
        data = RequestSubmittedV1(
            menu_item_code=item["code"],
            grid_id=shape.grid_id(g),
            community_id=shape.community_id(c),
            street_office_id=shape.street_id(c // shape.communities_per_street),
            resident_name=f"居民{n}",
            resident_phone=f"+86139{n:08d}",
            resident_language=rng.choice(("zh", "zh", "zh", "hui", None)),
            linked_heart_volunteer_id=linked,
            text="benchmark request",
            submitted_by=Actor(role="client_app", subject="bench"),
        )
        events.append(
            new_event(
                event_type=REQUEST_SUBMITTED,
                source="intake",
                district_id=DISTRICT,
                request_id=f"bench-{uuid.uuid4().hex}",
                data=data,
            )
        )
    return events


# -- phases ---------------------------------------------------------------------------------------------


@dataclass
class Phase:
    """Sequential operations of one kind: how many, how long each took, the wall time of all."""

    name: str
    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.wall if self.wall > 0 else 0.0

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile in seconds (with few samples p99 is the slowest)."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
        return ordered[rank - 1]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.latencies) if self.latencies else float("nan")


@dataclass(frozen=True)
class Budget:
    """Stop after `count` operations or `seconds`, whichever first, but never before `minimum`."""

    count: int
    seconds: float
    minimum: int = 3

    def more(self, done: int, elapsed: float) -> bool:
        return done < self.count and (done < self.minimum or elapsed < self.seconds)


async def matches(
    ctx: Dispatch, events: list[EventEnvelope], budget: Budget, progress: Progress, label: str
) -> tuple[Phase, list[Document]]:
    """Handle submissions one at a time through `handle_submitted`; returns the stored aggregates."""
    phase = Phase(label)
    documents: list[Document] = []
    started = last_report = time.perf_counter()
    for envelope in events:
        if not budget.more(phase.count, time.perf_counter() - started):
            break
        data = RequestSubmittedV1.model_validate(envelope.data)
        t0 = time.perf_counter()
        document = await handlers.handle_submitted(ctx, envelope, data, now_ms())
        t1 = time.perf_counter()
        phase.latencies.append(t1 - t0)
        documents.append(document)
        if t1 - last_report >= 5.0:
            progress(f"  {label}: {phase.count} done, last took {(t1 - t0) * 1000:,.0f} ms")
            last_report = t1
    phase.wall = time.perf_counter() - started
    return phase, documents


class CountingPublisher(EventPublisher):
    """Stands in for Kafka in the in-process consumer phase: counts what would be published."""

    def __init__(self) -> None:
        super().__init__("unused:9092", 1.0)
        self.published = 0

    async def publish(self, topic: str, event: EventEnvelope) -> None:
        self.published += 1


async def matches_with_outbox(ctx: Dispatch, events: list[EventEnvelope], budget: Budget, progress: Progress) -> Phase:
    """What the consumer does per event minus Kafka: the match, then carrying out its outbox."""
    publisher = CountingPublisher()
    router = RequestEventRouter(ctx, publisher, "bench.status")
    phase = Phase("match+outbox")
    started = last_report = time.perf_counter()
    for envelope in events:
        if not budget.more(phase.count, time.perf_counter() - started):
            break
        t0 = time.perf_counter()
        await router(envelope)
        t1 = time.perf_counter()
        phase.latencies.append(t1 - t0)
        if t1 - last_report >= 5.0:
            progress(f"  match+outbox: {phase.count} done, last took {(t1 - t0) * 1000:,.0f} ms")
            last_report = t1
    phase.wall = time.perf_counter() - started
    return phase


async def update_ceiling(db: AsyncDatabase[Document], collection: str, doc_id: str, budget: Budget) -> Phase:
    """The database's own rate: `update_one({_id}, {$inc})` on one document, sequential, same client."""
    phase = Phase(f"update_one {collection}")
    target = db[collection]
    started = time.perf_counter()
    while budget.more(phase.count, time.perf_counter() - started):
        t0 = time.perf_counter()
        result = await target.update_one({"_id": doc_id}, {"$inc": {"bench_counter": 1}})
        phase.latencies.append(time.perf_counter() - t0)
        if result.matched_count != 1:
            raise RuntimeError(f"{collection}/{doc_id} not found for the ceiling")
    phase.wall = time.perf_counter() - started
    return phase


# -- query plans ----------------------------------------------------------------------------------------


async def plan(db: AsyncDatabase[Document], collection: str, query: Document, **options: Any) -> str:
    """One line on how the database runs `find(query)`: FerretDB's pushdown flags and SQL plan, or MongoDB's."""
    command: Document = {"explain": {"find": collection, "filter": query, **options}, "verbosity": "queryPlanner"}
    try:
        explained = await db.command(command)
    except Exception as exc:  # an explain that fails must not fail the benchmark
        return f"explain failed: {exc}"
    if "filterPushdown" in explained:  # FerretDB v1
        sql = explained.get("queryPlanner", {}).get("Plan", [])
        flags = ", ".join(f"{k}={explained.get(k)}" for k in ("filterPushdown", "sortPushdown", "limitPushdown"))
        return f"{flags}; SQL plan: {' | '.join(str(s).split('detail=')[-1] for s in sql)}"
    stages: list[str] = []
    node: Document | None = explained.get("queryPlanner", {}).get("winningPlan")
    while node:
        stages.append(str(node.get("stage")) + (f"({node['indexName']})" if "indexName" in node else ""))
        node = node.get("inputStage")
    return "MongoDB plan: " + " <- ".join(stages)


# -- end to end through Kafka ---------------------------------------------------------------------------


@dataclass(frozen=True)
class KafkaResult:
    handled: int
    rate: float
    publish_seconds: float


async def through_kafka(
    ctx: Dispatch, events: list[EventEnvelope], bootstrap: str, wait_seconds: float, progress: Progress
) -> KafkaResult:
    """Publish the submissions to a private topic, run the real consumer loop on them, time first→last handled."""
    topics = Topics(prefix=f"bench-dispatch-{uuid.uuid4().hex[:8]}.")
    await ensure_topics(bootstrap, topics)
    await asyncio.sleep(2.0)  # let the new partitions elect their leader before producing
    publisher = EventPublisher(bootstrap, 10.0)
    consumer = manual_commit_consumer(bootstrap, topics.requests, topics.prefix + "dispatch", client_id="bench")
    stats = ConsumerStats()
    task: asyncio.Task[None] | None = None
    try:
        t0 = time.perf_counter()
        for first in range(0, len(events), 200):
            await asyncio.gather(*(publisher.publish(topics.requests, e) for e in events[first : first + 200]))
        publish_seconds = time.perf_counter() - t0
        router = RequestEventRouter(ctx, publisher, topics.status)
        await consumer.start()
        task = asyncio.create_task(
            consume_forever(consumer, router, publisher=publisher, dead_letter_topic=topics.dead_letter, stats=stats)
        )
        deadline = time.perf_counter() + wait_seconds
        first_at: float | None = None
        first_count = 0
        while stats.handled < len(events) and time.perf_counter() < deadline and not task.done():
            await asyncio.sleep(0.005)
            if first_at is None and stats.handled:
                first_at, first_count = time.perf_counter(), stats.handled
        last_at = time.perf_counter()
        if task.done():
            task.result()
        handled = stats.handled
        rate = (handled - first_count) / (last_at - first_at) if first_at is not None and last_at > first_at else 0.0
        if handled < len(events):
            progress(f"  kafka: only {handled}/{len(events)} handled within {wait_seconds:.0f}s")
        return KafkaResult(handled, rate, publish_seconds)
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await consumer.stop()
        await publisher.close()
        await _delete_topics(bootstrap, topics)


async def _delete_topics(bootstrap: str, topics: Topics) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(list(topics.partition_counts()))
    finally:
        await admin.close()
