"""Dispatch's store on the real database: restore by one equality, batch writes by `_id`, epoch fencing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from services.dispatch.domain.matching import Place, Volunteer
from services.dispatch.store import DispatchStore, Fenced
from shared.mongo import Document

pytestmark = pytest.mark.integration


@pytest.fixture
async def store_db(mongo_client: AsyncMongoClient[Document], run_id: str) -> AsyncIterator[AsyncDatabase[Document]]:
    name = f"grid_test_{run_id}_store_{uuid.uuid4().hex[:6]}"
    yield mongo_client[name]
    await mongo_client.drop_database(name)


def request_document(request_id: str, district_id: str, *, live: bool, epoch: int = 1) -> Document:
    return {
        "_id": request_id,
        "district_id": district_id,
        "live_district_id": district_id if live else None,
        "grid_id": "g1",
        "status": "offered" if live else "rated",
        "owner_epoch": epoch,
        "outbox": [],
    }


async def test_restore_reads_the_live_requests_of_one_district(store_db: AsyncDatabase[Document]) -> None:
    store = DispatchStore(store_db)
    await store.ensure_indexes()
    lease = await store.claim("requests:0", "replica-a")
    documents = [
        request_document("open-1", "d1", live=True),
        request_document("open-2", "d1", live=True),
        request_document("closed", "d1", live=False),
        request_document("elsewhere", "d2", live=True),
    ]
    volunteer = Volunteer("v1", Place("d1", "s1", "c1", "g1"), open_assignments=2, last_assigned_at=datetime.now(UTC))
    await store.write(lease, documents, [volunteer])
    restored = await store.restore("d1")
    assert sorted(d["_id"] for d in restored.requests) == ["open-1", "open-2"]
    assert [(d["_id"], d["open_assignments"]) for d in restored.loads] == [("v1", 2)]


async def test_a_newer_owner_fences_the_old_one(store_db: AsyncDatabase[Document]) -> None:
    store = DispatchStore(store_db)
    old = await store.claim("requests:3", "replica-a")
    await store.write(old, [request_document("r1", "d1", live=True, epoch=old.epoch)], [])
    new = await store.claim("requests:3", "replica-b")
    assert (new.epoch, new.previous_owner) == (old.epoch + 1, "replica-a")
    with pytest.raises(Fenced):
        await store.check(old)
    await store.write(new, [{**request_document("r1", "d1", live=True, epoch=new.epoch), "status": "assigned"}], [])
    # The paused replica wakes and writes what it decided before: refused, the new owner's write stands.
    with pytest.raises(Fenced):
        await store.write(
            old, [{**request_document("r1", "d1", live=True, epoch=old.epoch), "status": "cancelled"}], []
        )
    stored = await store.request("r1")
    assert stored is not None and stored["status"] == "assigned" and stored["owner_epoch"] == new.epoch
    await store.check(new)


async def test_written_through_survives_a_new_claim(store_db: AsyncDatabase[Document]) -> None:
    store = DispatchStore(store_db)
    lease = await store.claim("requests:1", "replica-a")
    await store.written_through(lease, 41)
    await store.written_through(lease, 17)  # a late, lower offset never moves it back
    again = await store.claim("requests:1", "replica-b")
    assert again.written_through == 41


async def test_the_first_cuts_open_requests_become_live_once(store_db: AsyncDatabase[Document]) -> None:
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    await store_db.requests.insert_many(
        [
            {"_id": "old-open", "district_id": "d1", "grid_id": "g1", "status": "assigned"},
            {"_id": "old-done", "district_id": "d1", "grid_id": "g1", "status": "rated"},
        ]
    )
    await store_db.timers.insert_one(
        {"_id": "t1", "request_id": "old-open", "kind": "sla_deadline", "due_at": due, "level": "grid", "generation": 0}
    )
    store = DispatchStore(store_db)
    assert await store.migrate_first_cut() == 1
    assert await store.migrate_first_cut() == 0
    restored = await store.restore("d1")
    assert [d["_id"] for d in restored.requests] == ["old-open"]
    assert [(t["kind"], t["due_at"]) for t in restored.requests[0]["timers"]] == [("sla_deadline", due)]


async def test_a_document_written_before_fencing_existed_is_taken_over(store_db: AsyncDatabase[Document]) -> None:
    await store_db.requests.insert_one({"_id": "legacy", "district_id": "d1", "grid_id": "g1", "status": "offered"})
    store = DispatchStore(store_db)
    lease = await store.claim("requests:2", "replica-a")
    refused = await store.write(lease, [request_document("legacy", "d1", live=True, epoch=lease.epoch)], [])
    stored = await store.request("legacy")
    assert refused == [] and stored is not None and stored["owner_epoch"] == lease.epoch


async def test_read_models_are_written_by_id_and_a_fenced_owner_cannot_overwrite_them(
    store_db: AsyncDatabase[Document],
) -> None:
    store = DispatchStore(store_db)
    old = await store.claim("requests:5", "replica-a")
    tasks = {"_id": "v1", "district_id": "d1", "offers": [{"request_id": "r1"}], "assignments": []}
    await store.write_read_model(old, "volunteer_tasks", replace=[tasks])
    entry = {"request_id": "r1", "minutes": 30}
    fields = {"district_id": "d1", "month": "2026-12", "tasks.r1-0": entry}
    await store.write_read_model(old, "service_records", set_fields=[("volunteer:v1:2026-12", fields)])
    # The same write again (a redelivered batch) leaves the same documents.
    await store.write_read_model(old, "service_records", set_fields=[("volunteer:v1:2026-12", fields)])
    record = await store_db.service_records.find_one({"_id": "volunteer:v1:2026-12"})
    assert record is not None and record["tasks"] == {"r1-0": entry} and record["owner_epoch"] == old.epoch

    new = await store.claim("requests:5", "replica-b")
    await store.write_read_model(new, "volunteer_tasks", replace=[{**tasks, "offers": []}])
    with pytest.raises(Fenced):
        await store.write_read_model(old, "volunteer_tasks", replace=[tasks])
    stored = await store_db.volunteer_tasks.find_one({"_id": "v1"})
    assert stored is not None and stored["offers"] == [] and stored["owner_epoch"] == new.epoch
