"""Reads by `_id` with the rest checked in Python, writes guarded by claims instead of a `version` filter.

FerretDB v1 pushes only a filter that is exactly `{_id: x}` down to SQL, so dispatch reads by `_id` and checks
the district (tenancy), the version, a token in Python; these tests pin what that must keep: a document of
another district is missing, a writer whose read was stale never writes, claims do not pile up.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from services.dispatch import handlers
from services.dispatch.domain.states import EscalationLevel
from services.dispatch.handlers import Dispatch
from services.dispatch.repository import (
    NEVER_LEASED,
    ReferenceRepository,
    RequestRepository,
    TimerRepository,
    VolunteerRepository,
)
from services.dispatch.settings import DispatchEngineSettings
from shared.contracts import REQUEST_SUBMITTED, Actor, RequestSubmittedV1, new_event
from shared.mongo import Document, connect
from shared.settings import PlatformSettings

pytestmark = pytest.mark.integration

DISTRICT = "chengzhong"
OTHER = "chengxi"


@pytest.fixture(scope="module")
async def db(platform_settings: PlatformSettings) -> AsyncIterator[AsyncDatabase[Document]]:
    """A database of its own: the e2e dispatch processes must not pick up these requests or timers."""
    client: AsyncMongoClient[Document] = connect(platform_settings)
    name = f"{platform_settings.mongodb_database}_by_id"
    yield client[name]
    await client.drop_database(name)
    await client.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def new_request(db: AsyncDatabase[Document], **fields: Any) -> str:
    request_id = unique("r-byid")
    await db.requests.insert_one({"_id": request_id, "district_id": DISTRICT, "version": 1, "counter": 0, **fields})
    return request_id


async def claims_of(db: AsyncDatabase[Document], request_id: str) -> list[str]:
    return sorted([c["_id"] async for c in db.request_version_claims.find({"request_id": request_id})])


async def new_volunteer(db: AsyncDatabase[Document], grid_id: str, **fields: Any) -> str:
    volunteer_id = unique("v-byid")
    await db.volunteers.insert_one(
        {
            "_id": volunteer_id,
            "district_id": DISTRICT,
            "grid_id": grid_id,
            "community_id": "c-byid",
            "street_office_id": "s-byid",
            "skills": ["errand"],
            "languages": [],
            "capacity": 2,
            "active": True,
            "open_assignments": 0,
            "assignment_ids": [],
            "last_assigned_at": None,
            **fields,
        }
    )
    return volunteer_id


# -- version transitions -------------------------------------------------------------------------------


async def test_a_writer_whose_read_is_stale_never_writes_and_leaves_no_claim(db: AsyncDatabase[Document]) -> None:
    """The claim of a past version is removed once the request moved on, so a stale writer can take it
    again; reading the version back after the claim is what turns it away."""
    repository = RequestRepository(db)
    request_id = await new_request(db)
    stale = await repository.get(request_id)
    assert stale is not None
    for _ in range(3):  # 1 → 4: the claims of versions 2 and 3 are gone again
        fresh = await repository.get(request_id)
        assert fresh is not None
        fresh["counter"] += 1
        assert await repository.save(fresh)
    assert await claims_of(db, request_id) == [f"{request_id}@4"]

    assert not await repository.save({**stale, "counter": -1})  # claims `@2` (free again), then reads version 4
    stored = await db.requests.find_one({"_id": request_id})
    assert stored is not None and stored["version"] == 4 and stored["counter"] == 3
    assert await claims_of(db, request_id) == [f"{request_id}@4"]  # its useless claim removed

    await repository.clear_side_effects(request_id, event_ids=set(), timer_ids=set(), releases=set())
    stored = await db.requests.find_one({"_id": request_id})
    assert stored is not None and stored["version"] == 5 and stored["outbox_pending"] is False
    assert await claims_of(db, request_id) == [f"{request_id}@5"]


async def test_the_next_transition_removes_a_takeovers_claims_by_id(db: AsyncDatabase[Document]) -> None:
    repository = RequestRepository(db, claim_lease=timedelta(seconds=1))
    request_id = await new_request(db)
    for dead in ("", "~1"):  # two writers died holding version 2
        await db.request_version_claims.insert_one(
            {"_id": f"{request_id}@2{dead}", "request_id": request_id, "version": 2, "at": NEVER_LEASED, "token": "x"}
        )
    document = await repository.get(request_id)
    assert document is not None
    assert await repository.save(document)  # written under `@2~2`
    assert await claims_of(db, request_id) == [f"{request_id}@2", f"{request_id}@2~1", f"{request_id}@2~2"]
    noted = await db.request_version_claims.find_one({"_id": f"{request_id}@2"})
    assert noted is not None and noted["takeovers"] == 2

    assert await repository.save(document)  # 2 → 3
    assert await claims_of(db, request_id) == [f"{request_id}@3"]


# -- tenancy of reads by _id ---------------------------------------------------------------------------


async def test_reads_by_id_treat_another_districts_documents_as_missing(db: AsyncDatabase[Document]) -> None:
    reference = ReferenceRepository(db)
    grid_id, community_id = unique("g"), unique("c")
    await db.grids.insert_one({"_id": grid_id, "district_id": DISTRICT, "community_id": community_id})
    await db.menu_items.insert_one(
        {"_id": f"{community_id}:errand", "district_id": DISTRICT, "community_id": community_id, "code": "errand"}
    )
    await db.communities.insert_one({"_id": community_id, "district_id": DISTRICT, "director_name": "张"})
    assert (await reference.grid(DISTRICT, grid_id) or {}).get("community_id") == community_id
    assert await reference.grid(OTHER, grid_id) is None
    assert (await reference.menu_item(DISTRICT, community_id, "errand") or {}).get("code") == "errand"
    assert await reference.menu_item(OTHER, community_id, "errand") is None
    assert await reference.menu_item(DISTRICT, community_id, "repair") is None
    assert await reference.responsible(DISTRICT, EscalationLevel.COMMUNITY, community_id) == {"name": "张"}
    assert await reference.responsible(OTHER, EscalationLevel.COMMUNITY, community_id) == {}

    requests = RequestRepository(db)
    request_id = await new_request(db)
    assert (await requests.get_in_district(DISTRICT, request_id) or {}).get("_id") == request_id
    assert await requests.get_in_district(OTHER, request_id) is None

    volunteers = VolunteerRepository(db)
    mine = await new_volunteer(db, grid_id)
    theirs = await new_volunteer(db, grid_id, district_id=OTHER)
    assert set(await volunteers.by_ids(DISTRICT, [mine, theirs, "v-nobody"])) == {mine}
    assert await volunteers.by_ids(DISTRICT, []) == {}
    at = handlers.now_ms()
    assert not await volunteers.reserve(DISTRICT, theirs, request_id, at)
    assert await volunteers.reserve(DISTRICT, mine, request_id, at)


async def test_the_linked_heart_is_read_by_id_and_must_fit_the_query(db: AsyncDatabase[Document]) -> None:
    volunteers = VolunteerRepository(db)
    grid_id = unique("g")
    # Enough busy volunteers that the least-loaded query alone never returns the linked hearts.
    for _ in range(3):
        await new_volunteer(db, grid_id)
    hearts = {
        "fits": await new_volunteer(db, grid_id, open_assignments=1),
        "inactive": await new_volunteer(db, grid_id, open_assignments=1, active=False),
        "other grid": await new_volunteer(db, unique("g"), open_assignments=1),
        "no skill": await new_volunteer(db, grid_id, open_assignments=1, skills=["repair"]),
        "other district": await new_volunteer(db, grid_id, open_assignments=1, district_id=OTHER),
    }

    async def found(heart: str) -> bool:
        documents = await volunteers.candidates(
            district_id=DISTRICT,
            level=EscalationLevel.GRID,
            area_id=grid_id,
            required_skills=["errand"],
            language=None,
            linked_heart_id=hearts[heart],
            limit=3,
        )
        assert len(documents) in (3, 4)
        return hearts[heart] in {d["_id"] for d in documents}

    assert [heart for heart in hearts if await found(heart)] == ["fits"]


async def test_the_candidate_indexes_end_with_id_and_replace_the_old_ones(db: AsyncDatabase[Document]) -> None:
    load = [("active", ASCENDING), ("open_assignments", ASCENDING), ("last_assigned_at", ASCENDING)]
    old = await db.volunteers.create_index([("district_id", ASCENDING), ("grid_id", ASCENDING), *load])
    await VolunteerRepository(db).ensure_indexes()
    await VolunteerRepository(db).ensure_indexes()  # twice: nothing left to drop
    keys = [list(index["key"]) for index in (await db.volunteers.index_information()).values()]
    for area in (["grid_id"], ["community_id"], ["street_office_id"], []):
        wanted = ["district_id", *area, "active", "open_assignments", "last_assigned_at", "_id"]
        assert wanted in [[field for field, _ in key] for key in keys]
    assert old not in await db.volunteers.index_information()


# -- submission ------------------------------------------------------------------------------------------


async def test_a_redelivered_submission_returns_the_stored_request(
    db: AsyncDatabase[Document], platform_env: dict[str, str]
) -> None:
    """No read before the insert: the duplicate `_id` is what says the request exists."""
    ctx = Dispatch(
        requests=RequestRepository(db),
        volunteers=VolunteerRepository(db),
        reference=ReferenceRepository(db),
        timers=TimerRepository(db),
        settings=DispatchEngineSettings(**platform_env),  # type: ignore[arg-type]
    )
    grid_id, community_id = unique("g"), unique("c")
    await db.grids.insert_one(
        {"_id": grid_id, "district_id": DISTRICT, "community_id": community_id, "street_office_id": "s-byid"}
    )
    await db.menu_items.insert_one(
        {
            "_id": f"{community_id}:errand",
            "district_id": DISTRICT,
            "community_id": community_id,
            "code": "errand",
            "urgency": "normal",
            "required_skills": ["errand"],
        }
    )
    volunteer_id = await new_volunteer(db, grid_id, community_id=community_id)
    data = RequestSubmittedV1(
        menu_item_code="errand",
        grid_id=grid_id,
        resident_name="居民",
        resident_phone="+8613900000000",
        submitted_by=Actor(role="client_app", subject="test"),
    )
    envelope = new_event(
        event_type=REQUEST_SUBMITTED, source="intake", district_id=DISTRICT, request_id=unique("r-sub"), data=data
    )
    first = await handlers.handle_submitted(ctx, envelope, data, handlers.now_ms())
    assert first["version"] == 1 and first["offered_volunteer_ids"] == [volunteer_id]
    assert first["community_id"] == community_id and first["menu_item"]["code"] == "errand"

    again = await handlers.handle_submitted(ctx, envelope, data, handlers.now_ms())
    assert again == await db.requests.find_one({"_id": envelope.request_id})
    assert again["created_at"] == first["created_at"] and len(again["decisions"]) == len(first["decisions"])
