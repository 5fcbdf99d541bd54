"""Racing writers on the real database: FerretDB v1 does not make conditional updates atomic, so dispatch
guards every exclusive write with an insert-claimed document. Here N separate connections race for the
same request version, timer and volunteer slots: exactly the allowed number of them may win.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from services.dispatch import handlers
from services.dispatch.handlers import Dispatch, Working
from services.dispatch.repository import (
    NEVER_LEASED,
    ReferenceRepository,
    RequestRepository,
    TimerRepository,
    VolunteerRepository,
)
from services.dispatch.settings import DispatchEngineSettings
from shared.mongo import Document, connect
from shared.settings import PlatformSettings

pytestmark = pytest.mark.integration

RACERS = 8
DISTRICT = "chengzhong"
SHORT_LEASE = timedelta(seconds=1)
TRIALS = 10


@pytest.fixture(scope="module")
async def racers(platform_settings: PlatformSettings) -> AsyncIterator[list[AsyncDatabase[Document]]]:
    """A database of its own through RACERS separate clients (separate connections, as separate replicas).

    Not the run's shared database: the dispatch processes of the e2e tests would claim these timers.
    """
    name = f"{platform_settings.mongodb_database}_races"
    clients: list[AsyncMongoClient[Document]] = [connect(platform_settings) for _ in range(RACERS)]
    dbs = [client[name] for client in clients]
    await asyncio.gather(*(d.command("ping") for d in dbs))
    yield dbs
    await clients[0].drop_database(name)
    for client in clients:
        await client.close()


@pytest.fixture(scope="module")
def db(racers: list[AsyncDatabase[Document]]) -> AsyncDatabase[Document]:
    """This module's tests read and seed the racers' database, not the run's shared one."""
    return racers[0]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def now_ms() -> datetime:
    return handlers.now_ms()


async def new_request(db: AsyncDatabase[Document], **fields: Any) -> str:
    request_id = unique("r-race")
    document: Document = {
        "_id": request_id,
        "district_id": DISTRICT,
        "status": "matching",
        "level": "grid",
        "version": 1,
        "counter": 0,
        **fields,
    }
    await db.requests.insert_one(document)
    return request_id


# -- (a) version transitions -----------------------------------------------------------------------


async def test_racing_saves_of_one_version_have_exactly_one_winner(
    db: AsyncDatabase[Document], racers: list[AsyncDatabase[Document]]
) -> None:
    repositories = [RequestRepository(d) for d in racers]
    for _ in range(5):
        request_id = await new_request(db)
        read = await asyncio.gather(*(r.get(request_id) for r in repositories))
        copies = [{**document, "winner": n} for n, document in enumerate(read) if document is not None]
        saved = await asyncio.gather(*(r.save(c) for r, c in zip(repositories, copies, strict=True)))
        assert saved.count(True) == 1, saved
        stored = await db.requests.find_one({"_id": request_id})
        assert stored is not None
        assert stored["version"] == 2 and stored["winner"] == saved.index(True)
        assert copies[saved.index(True)]["version"] == 2  # the winner's copy follows; losers keep theirs
        assert all(c["version"] == 1 for c, ok in zip(copies, saved, strict=True) if not ok)


async def test_racing_read_modify_save_loops_lose_no_update(
    db: AsyncDatabase[Document], racers: list[AsyncDatabase[Document]]
) -> None:
    """Savers increment a counter while the outbox clearer runs: every write lands, versions step by one."""
    events = [{"id": f"e{n}"} for n in range(4)]
    request_id = await new_request(db, outbox=events, timers_pending=[], releases_pending=[], outbox_pending=True)
    increments = 3

    async def saver(repository: RequestRepository) -> int:
        conflicts = 0
        for _ in range(increments):
            while True:
                document = await repository.get(request_id)
                assert document is not None
                document["counter"] += 1
                if await repository.save(document):
                    break
                conflicts += 1
        return conflicts

    async def clearer(repository: RequestRepository, event_id: str) -> int:
        await repository.clear_side_effects(
            request_id, event_ids={event_id}, timer_ids=set(), releases=set(), attempts=100
        )
        return 0

    repositories = [RequestRepository(d) for d in racers]
    conflicts = await asyncio.gather(
        *(saver(r) for r in repositories[:4]),
        *(clearer(r, e["id"]) for r, e in zip(repositories[4:], events, strict=True)),
    )
    stored = await db.requests.find_one({"_id": request_id})
    assert stored is not None
    assert stored["counter"] == 4 * increments
    assert stored["outbox"] == [] and stored["outbox_pending"] is False
    assert stored["version"] == 1 + 4 * increments + len(events)
    assert sum(conflicts) > 0  # they did race
    # Housekeeping keeps only the newest version's claim.
    claims = [c["_id"] async for c in db.request_version_claims.find({"request_id": request_id})]
    assert claims == [f"{request_id}@{stored['version']}"]


# -- (b) a claimer that died --------------------------------------------------------------------------


async def test_a_dead_writers_claim_is_taken_over_after_the_lease_by_exactly_one(
    db: AsyncDatabase[Document], racers: list[AsyncDatabase[Document]]
) -> None:
    request_id = await new_request(db)
    # What a writer leaves behind when it dies between claiming version 2 and writing it.
    await db.request_version_claims.insert_one(
        {"_id": f"{request_id}@2", "request_id": request_id, "version": 2, "at": now_ms(), "token": "dead"}
    )
    repositories = [RequestRepository(d, claim_lease=SHORT_LEASE) for d in racers]
    document = await repositories[0].get(request_id)
    assert document is not None
    assert not await repositories[0].save({**document})  # a fresh claim is a conflict, not a takeover

    await asyncio.sleep(SHORT_LEASE.total_seconds() + 0.2)
    copies = [{**document, "winner": n} for n in range(RACERS)]
    saved = await asyncio.gather(*(r.save(c) for r, c in zip(repositories, copies, strict=True)))
    assert saved.count(True) == 1, saved
    stored = await db.requests.find_one({"_id": request_id})
    assert stored is not None and stored["version"] == 2 and stored["winner"] == saved.index(True)

    # A claim that is old but whose version was written (the writer died after writing) is not taken
    # over by a stale reader: the document moved on, so that reader just conflicts.
    await db.request_version_claims.update_one({"_id": f"{request_id}@2"}, {"$set": {"at": NEVER_LEASED}})
    assert not await repositories[1].save({**document, "winner": "stale"})
    assert await db.request_version_claims.find_one({"_id": f"{request_id}@2"}) is not None
    fresh = await repositories[1].get(request_id)
    assert fresh is not None and await repositories[1].save(fresh) and fresh["version"] == 3


# -- (c) timers ----------------------------------------------------------------------------------------


def timer(timer_id: str, request_id: str, due_at: datetime) -> Document:
    return {
        "_id": timer_id,
        "district_id": DISTRICT,
        "request_id": request_id,
        "kind": "offer_timeout",
        "due_at": due_at,
        "level": "grid",
        "generation": 1,
        "volunteer_id": "v-nobody",
        "clock": None,
        "deadline_at": None,
        "lease_until": NEVER_LEASED,
        "claimed_by": None,
    }


async def claim_all(repository: TimerRepository, owner: str, lease: timedelta) -> list[str]:
    claimed = []
    while (claimed_timer := await repository.claim(owner, now_ms(), lease)) is not None:
        assert claimed_timer["claimed_by"] == owner
        claimed.append(claimed_timer["_id"])
    return claimed


async def test_racing_replicas_claim_each_due_timer_exactly_once(
    db: AsyncDatabase[Document], racers: list[AsyncDatabase[Document]]
) -> None:
    request_id = unique("r-timers")
    base = datetime(2001, 1, 1, tzinfo=UTC)
    ids = [f"{request_id}:t{n}" for n in range(6)]
    repositories = [TimerRepository(d) for d in racers]
    await repositories[0].ensure_indexes()
    await repositories[0].schedule([timer(i, request_id, base + timedelta(seconds=n)) for n, i in enumerate(ids)])
    try:
        claimed = await asyncio.gather(
            *(claim_all(r, f"replica-{n}", timedelta(seconds=60)) for n, r in enumerate(repositories))
        )
        everything = [i for got in claimed for i in got]
        assert sorted(everything) == sorted(ids)  # each once, none lost
        owners = {i: n for n, got in enumerate(claimed) for i in got}
        stored = {t["_id"]: t async for t in db.timers.find({"request_id": request_id})}
        assert all(stored[i]["claimed_by"] == f"replica-{owners[i]}" for i in ids)
    finally:
        await db.timers.delete_many({"request_id": request_id})


async def test_a_dead_replicas_timer_is_claimed_again_by_exactly_one_after_the_lease(
    db: AsyncDatabase[Document], racers: list[AsyncDatabase[Document]]
) -> None:
    request_id = unique("r-timers")
    timer_id = f"{request_id}:t"
    repositories = [TimerRepository(d) for d in racers]
    await repositories[0].schedule([timer(timer_id, request_id, datetime(2002, 1, 1, tzinfo=UTC))])
    try:
        first = await repositories[0].claim("replica-dead", now_ms(), SHORT_LEASE)  # and then it dies
        assert first is not None and first["_id"] == timer_id
        again = await asyncio.gather(
            *(r.claim(f"replica-{n}", now_ms(), SHORT_LEASE) for n, r in enumerate(repositories))
        )
        assert again == [None] * RACERS  # leased

        await asyncio.sleep(SHORT_LEASE.total_seconds() + 0.2)
        again = await asyncio.gather(
            *(r.claim(f"replica-{n}", now_ms(), SHORT_LEASE) for n, r in enumerate(repositories))
        )
        winners = [n for n, got in enumerate(again) if got is not None]
        assert len(winners) == 1, again
        await repositories[winners[0]].done(timer_id, f"replica-{winners[0]}")
        assert await db.timers.find_one({"_id": timer_id}) is None
        assert await db.timer_claims.count_documents({"timer_id": timer_id}) == 0
    finally:
        await db.timers.delete_many({"request_id": request_id})


async def test_a_timer_fired_by_several_replicas_takes_effect_once(
    db: AsyncDatabase[Document],
    racers: list[AsyncDatabase[Document]],
    platform_env: dict[str, str],
) -> None:
    """The second line of defence: even two holders of one timer save its effect once (`fired_timer_ids`)."""
    settings = DispatchEngineSettings(**platform_env)  # type: ignore[arg-type]
    contexts = [
        Dispatch(
            requests=RequestRepository(d),
            volunteers=VolunteerRepository(d),
            reference=ReferenceRepository(d),
            timers=TimerRepository(d),
            settings=settings,
        )
        for d in racers
    ]
    request_id = await new_request(db)
    timer_id = f"{request_id}:offer_timeout:grid:1:v-nobody:2003"

    def fire(n: int) -> handlers.Decide:
        async def decide(work: Working) -> bool:
            work.doc["counter"] += 1
            work.doc["fired_by"] = n
            return True

        return decide

    fired = await asyncio.gather(
        *(
            handlers._change(ctx, request_id, None, fire(n), now_ms(), timer_id=timer_id)
            for n, ctx in enumerate(contexts)
        )
    )
    stored = await db.requests.find_one({"_id": request_id})
    assert stored is not None
    assert stored["counter"] == 1 and stored["fired_timer_ids"] == [timer_id] and stored["version"] == 2
    # Every holder gets the request back with the timer fired, and exactly one of them fired it.
    assert all(document is not None and timer_id in document["fired_timer_ids"] for document in fired)
    assert [document["fired_by"] for document in fired if document is not None] == [stored["fired_by"]] * RACERS


# -- (d) volunteer capacity -------------------------------------------------------------------------------


async def new_volunteer(db: AsyncDatabase[Document], capacity: int) -> str:
    volunteer_id = unique("v-race")
    await db.volunteers.insert_one(
        {
            "_id": volunteer_id,
            "district_id": DISTRICT,
            "grid_id": "race-grid",
            "name": volunteer_id,
            "kind": "volunteer",
            "skills": [],
            "capacity": capacity,
            "active": True,
            "open_assignments": 0,
            "assignment_ids": [],
            "last_assigned_at": None,
        }
    )
    return volunteer_id


async def test_racing_reserves_never_exceed_capacity_and_are_idempotent(
    db: AsyncDatabase[Document], racers: list[AsyncDatabase[Document]]
) -> None:
    repositories = [VolunteerRepository(d) for d in racers]
    volunteer_id = await new_volunteer(db, capacity=3)
    requests = [unique("r-load") for _ in range(10)]
    at = now_ms()

    async def load() -> tuple[Document, list[str]]:
        volunteer = await db.volunteers.find_one({"_id": volunteer_id})
        assert volunteer is not None
        slots = sorted([s["request_id"] async for s in db.volunteer_slots.find({"volunteer_id": volunteer_id})])
        return volunteer, slots

    reserved = await asyncio.gather(
        *(repositories[n % RACERS].reserve(DISTRICT, volunteer_id, r, at) for n, r in enumerate(requests))
    )
    assert reserved.count(True) == 3, reserved
    holders = sorted(r for r, ok in zip(requests, reserved, strict=True) if ok)
    others = [r for r in requests if r not in holders]
    volunteer, slots = await load()
    assert slots == holders
    assert volunteer["open_assignments"] == 3 and volunteer["assignment_ids"] == holders
    assert volunteer["last_assigned_at"] == at

    # The same request again, from every replica at once: still counted once.
    again = await asyncio.gather(*(r.reserve(DISTRICT, volunteer_id, holders[0], at) for r in repositories))
    assert all(again)
    assert await load() == (volunteer, holders)
    assert not await repositories[0].reserve(DISTRICT, volunteer_id, others[0], at)  # still full

    # Releasing frees one slot: of the racing others, exactly one gets it.
    assert await repositories[1].release(volunteer_id, holders[0])
    assert not await repositories[2].release(volunteer_id, holders[0])  # idempotent
    later = now_ms()
    reserved = await asyncio.gather(
        *(repositories[n % RACERS].reserve(DISTRICT, volunteer_id, r, later) for n, r in enumerate(others))
    )
    assert reserved.count(True) == 1, reserved
    newcomer = others[reserved.index(True)]
    volunteer, slots = await load()
    assert slots == sorted([*holders[1:], newcomer])
    assert volunteer["open_assignments"] == 3 and volunteer["assignment_ids"] == slots


async def test_racing_reserves_of_one_request_take_one_slot(
    db: AsyncDatabase[Document], racers: list[AsyncDatabase[Document]]
) -> None:
    repositories = [VolunteerRepository(d) for d in racers]
    volunteer_id = await new_volunteer(db, capacity=3)
    request_id = unique("r-load")
    reserved = await asyncio.gather(*(r.reserve(DISTRICT, volunteer_id, request_id, now_ms()) for r in repositories))
    assert all(reserved)
    assert await db.volunteer_slots.count_documents({"volunteer_id": volunteer_id}) == 1
    volunteer = await db.volunteers.find_one({"_id": volunteer_id})
    assert volunteer is not None and volunteer["open_assignments"] == 1 and volunteer["assignment_ids"] == [request_id]
    released = await asyncio.gather(*(r.release(volunteer_id, request_id) for r in repositories))
    assert released.count(True) == 1
    volunteer = await db.volunteers.find_one({"_id": volunteer_id})
    assert volunteer is not None and volunteer["open_assignments"] == 0 and volunteer["assignment_ids"] == []


async def test_duplicate_releases_racing_a_reserve_never_free_the_new_holder(
    db: AsyncDatabase[Document], racers: list[AsyncDatabase[Document]]
) -> None:
    """Several replicas release one assignment while another request takes the freed slot at once."""
    repositories = [VolunteerRepository(d) for d in racers]
    for _ in range(TRIALS):
        volunteer_id = await new_volunteer(db, capacity=1)
        first, second = unique("r-first"), unique("r-second")
        assert await repositories[0].reserve(DISTRICT, volunteer_id, first, now_ms())

        async def take_over(volunteer_id: str = volunteer_id, second: str = second) -> bool:
            for _ in range(200):
                if await repositories[-1].reserve(DISTRICT, volunteer_id, second, now_ms()):
                    return True
            return False

        *released, taken = await asyncio.gather(
            *(r.release(volunteer_id, first) for r in repositories[:-1]), take_over()
        )
        assert released.count(True) == 1 and taken
        slots = [s["request_id"] async for s in db.volunteer_slots.find({"volunteer_id": volunteer_id})]
        assert slots == [second]
        volunteer = await db.volunteers.find_one({"_id": volunteer_id})
        assert volunteer is not None and volunteer["assignment_ids"] == [second] and volunteer["open_assignments"] == 1


async def test_assignments_counted_before_slots_get_slots(db: AsyncDatabase[Document]) -> None:
    volunteer_id = await new_volunteer(db, capacity=2)
    await db.volunteers.update_one(
        {"_id": volunteer_id}, {"$set": {"open_assignments": 2, "assignment_ids": ["r-old-1", "r-old-2"]}}
    )
    repository = VolunteerRepository(db)
    assert await repository.adopt_counted_assignments() >= 2
    assert not await repository.reserve(DISTRICT, volunteer_id, "r-new", now_ms())  # full, as it was
    assert await repository.release(volunteer_id, "r-old-1")
    assert await repository.reserve(DISTRICT, volunteer_id, "r-new", now_ms())
    volunteer = await db.volunteers.find_one({"_id": volunteer_id})
    assert volunteer is not None and volunteer["assignment_ids"] == ["r-new", "r-old-2"]
