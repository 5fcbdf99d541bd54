"""Dispatch's database access: restore a district, write a batch by `_id`, and the ownership epoch that fences.

Every read here is by exact `_id` or by one equality an index serves (`live_district_id`, `district_id`
on the roster and load), so its cost does not grow with history. Writes are a few `bulk_write`s per batch:
the changed requests (outbox inside) and volunteer loads, each replaced or updated by `_id`.

Fencing (DESIGN.md principle 4): each input partition has a document in `dispatch_partitions` whose
`epoch` the new owner raises when Kafka assigns it the partition, before it reads any state. Every
document the owner writes carries its epoch, and a write matches only documents whose `owner_epoch` is
not newer; a replica that lost the partition without knowing (paused past the session timeout) checks the
epoch before and after writing and, on finding a newer one, drops its state, publishes nothing and
commits nothing. Its write itself is refused on every document the new owner already wrote (the filter
no longer matches and the upsert hits the existing `_id`). On MongoDB that filter is atomic; on FerretDB
v1 it is evaluated before the write, so the guarantee there rests on the epoch checks around the write.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, ReplaceOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.dispatch.domain.matching import Volunteer
from services.dispatch.read_models import ReadModelWrite
from services.dispatch.reference import Key
from shared.mongo import Document

log = logging.getLogger(__name__)

DUPLICATE_KEY = 11000
# FerretDB v1 (PostgreSQL) holds a pooled connection per statement until a whole command is done, so a bulk of
# more statements than its pool (180, deploy/native/stack.sh) deadlocks it (goroutine dump: one command's
# goroutine holding all 180). A batch is written in commands well below that.
MAX_WRITES_PER_COMMAND = 64


class Fenced(RuntimeError):
    """Another replica owns the partition now (a newer epoch): stop writing, publishing and committing."""


@dataclass(frozen=True)
class Lease:
    """This replica's ownership of one input partition."""

    key: str
    epoch: int
    previous_epoch: int
    previous_owner: str | None
    written_through: int


@dataclass(frozen=True)
class RestoredDistrict:
    requests: list[Document]
    volunteers: list[Document]
    loads: list[Document]
    care_plans: list[Document] = field(default_factory=list)
    care_cursors: list[Document] = field(default_factory=list)


class DispatchStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db
        self._requests = db.requests
        self._loads = db.volunteer_load
        self._partitions = db.dispatch_partitions

    async def ensure_indexes(self) -> None:
        await self._requests.create_index([("live_district_id", ASCENDING)])
        # Readers' queries (intake's lists, Open311, the console) until they move to read models.
        await self._requests.create_index([("district_id", ASCENDING), ("status", ASCENDING)])
        await self._requests.create_index([("district_id", ASCENDING), ("grid_id", ASCENDING)])
        # The hotline desk's look-ups (intake): a household's requests, and those filed with a phone.
        await self._requests.create_index([("district_id", ASCENDING), ("resident_id", ASCENDING)])
        await self._requests.create_index([("district_id", ASCENDING), ("resident_phone", ASCENDING)])
        await self._loads.create_index([("district_id", ASCENDING)])
        # Scheduled care: plans (the admin's) and cursors restored by district; a household's care log by resident.
        await self._db.care_plans.create_index([("district_id", ASCENDING), ("grid_id", ASCENDING)])
        await self._db.care_schedule.create_index([("district_id", ASCENDING)])
        await self._db.care_log.create_index([("resident_id", ASCENDING)])

    async def migrate_first_cut(self) -> int:
        """Once per database: mark the first cut's open requests live and move their timers into them.

        The first cut kept timers in a `timers` collection and had no `live_district_id`; without this, its
        open requests would never be restored. A marker document makes later starts skip the scan.
        """
        marker = {"_id": "first-cut-requests"}
        if await self._db.dispatch_migrations.find_one(marker) is not None:
            return 0
        live = ["submitted", "matching", "offered", "escalated", "assigned", "in_progress"]
        timers: dict[str, list[Document]] = {}
        async for timer in self._db.timers.find({}):
            timers.setdefault(timer.get("request_id", ""), []).append(
                {
                    k: timer.get(k)
                    for k in ("kind", "due_at", "level", "generation", "volunteer_id", "clock", "deadline_at")
                }
            )
        operations: list[Any] = []
        async for request in self._requests.find({"status": {"$in": live}, "live_district_id": {"$exists": False}}):
            fields = {"live_district_id": request["district_id"], "timers": timers.get(request["_id"], [])}
            operations.append(UpdateOne({"_id": request["_id"]}, {"$set": fields}))
        for start in range(0, len(operations), MAX_WRITES_PER_COMMAND):
            await self._requests.bulk_write(operations[start : start + MAX_WRITES_PER_COMMAND], ordered=False)
        if operations:
            log.info("moved %d open requests of the first cut into dispatch's live state", len(operations))
        await self._db.dispatch_migrations.replace_one(marker, {**marker, "at": datetime.now(UTC)}, upsert=True)
        return len(operations)

    # -- ownership -----------------------------------------------------------------------------
    async def claim(self, key: str, owner: str) -> Lease:
        """Raise the partition's epoch: from now on, writes of an older epoch are refused."""
        current = await self._partitions.find_one({"_id": key}) or {}
        epoch = int(current.get("epoch", 0)) + 1
        written = int(current.get("written_through", -1))
        await self._partitions.replace_one(
            {"_id": key},
            {"epoch": epoch, "owner": owner, "claimed_at": datetime.now(UTC), "written_through": written},
            upsert=True,
        )
        return Lease(key, epoch, int(current.get("epoch", 0)), current.get("owner"), written)

    async def check(self, lease: Lease) -> None:
        current = await self._partitions.find_one({"_id": lease.key}, {"epoch": 1})
        if current is not None and int(current.get("epoch", 0)) != lease.epoch:
            raise Fenced(f"{lease.key} is at epoch {current.get('epoch')}, ours is {lease.epoch}")

    async def written_through(self, lease: Lease, offset: int) -> None:
        """Remember how far this partition's messages may already be in the database (see `owner`)."""
        await self._partitions.update_one(
            {"_id": lease.key, "epoch": lease.epoch}, {"$max": {"written_through": offset}}
        )

    # -- reading -------------------------------------------------------------------------------
    async def districts(self) -> list[str]:
        """Every district id: reference data, small, read only when partitions are assigned."""
        return [document["_id"] async for document in self._db.districts.find({}, {"_id": 1})]

    async def restore(self, district_id: str) -> RestoredDistrict:
        requests = await self._requests.find({"live_district_id": district_id}).to_list()
        volunteers = await self._db.volunteers.find({"district_id": district_id}).to_list()
        loads = await self._loads.find({"district_id": district_id}).to_list()
        plans = await self._db.care_plans.find({"district_id": district_id}).to_list()
        cursors = await self._db.care_schedule.find({"district_id": district_id}).to_list()
        return RestoredDistrict(requests, volunteers, loads, plans, cursors)

    async def request(self, request_id: str) -> Document | None:
        return await self._requests.find_one({"_id": request_id})

    async def reference(self, key: Key) -> Document | None:
        """One reference document by `_id` (a team by its grid: teams are few per district)."""
        collection, district_id, *rest = key
        if collection == "districts":
            return await self._db.districts.find_one({"_id": district_id})
        if collection == "teams":
            return await self._db.teams.find_one({"district_id": district_id, "grid_id": rest[0]})
        found = await self._db[collection].find_one({"_id": rest[0]})
        return found if found is not None and found.get("district_id") == district_id else None

    # -- writing -------------------------------------------------------------------------------
    async def write(
        self, lease: Lease, requests: Iterable[Document], loads: Iterable[Volunteer], published: Iterable[str] = ()
    ) -> list[str]:
        """Write a batch by `_id`: changed requests, load, and emptied outboxes of requests published before.

        Returns the ids of requests the database refused to store (poison: the caller drops them); raises
        `Fenced` when a newer owner has written one of the documents.
        """
        # Not newer than ours; a document without an epoch (written before fencing existed) matches too.
        newer = {"owner_epoch": {"$not": {"$gt": lease.epoch}}}
        documents = list(requests)
        rewritten = {document["_id"] for document in documents}
        changed: list[tuple[str, Any]] = [
            (d["_id"], ReplaceOne({"_id": d["_id"], **newer}, d, upsert=True)) for d in documents
        ]
        # Outboxes carried out after the last write of their request: emptied so a restore does not repeat them.
        changed += [
            (request_id, UpdateOne({"_id": request_id, **newer}, {"$set": {"outbox": []}}))
            for request_id in published
            if request_id not in rewritten
        ]
        load: list[Any] = [
            UpdateOne(
                {"_id": volunteer.volunteer_id, **newer},
                {
                    "$set": {
                        "district_id": volunteer.home.district_id,
                        "open_assignments": volunteer.open_assignments,
                        "last_assigned_at": volunteer.last_assigned_at,
                        "owner_epoch": lease.epoch,
                    }
                },
                upsert=True,
            )
            for volunteer in loads
        ]
        refused: list[str] = []
        for start in range(0, len(changed), MAX_WRITES_PER_COMMAND):
            chunk = changed[start : start + MAX_WRITES_PER_COMMAND]
            try:
                await self._requests.bulk_write([operation for _, operation in chunk], ordered=False)
            except (BulkWriteError, KeyError):
                # A document was refused. (FerretDB v1 answers a refused write without `nModified`, which
                # PyMongo's bulk result trips on, so the refused one is found by writing them one by one.)
                await self.check(lease)
                refused += await self._one_by_one(lease, chunk)
        for start in range(0, len(load), MAX_WRITES_PER_COMMAND):
            try:
                await self._loads.bulk_write(load[start : start + MAX_WRITES_PER_COMMAND], ordered=False)
            except (BulkWriteError, KeyError) as exc:
                await self.check(lease)
                raise Fenced(f"{lease.key}: a volunteer's load was written by a newer owner") from exc
        return refused

    async def write_read_models(self, lease: Lease, writes: Iterable[ReadModelWrite]) -> None:
        """Replace read-model documents by `_id` (or `$set` fields of them), fenced like the requests, before the
        batch's requests; collection by collection in the order they first appear in `writes`."""
        newer = {"owner_epoch": {"$not": {"$gt": lease.epoch}}}
        by_collection: dict[str, list[Any]] = {}
        for write in writes:
            document = write.document
            match = {"_id": document["_id"], **newer}
            fields = {k: v for k, v in document.items() if k != "_id"}
            by_collection.setdefault(write.collection, []).append(
                UpdateOne(match, {"$set": fields}, upsert=True)
                if write.partial
                else ReplaceOne(match, document, upsert=True)
            )
        for collection, operations in by_collection.items():
            for start in range(0, len(operations), MAX_WRITES_PER_COMMAND):
                try:
                    await self._db[collection].bulk_write(
                        operations[start : start + MAX_WRITES_PER_COMMAND], ordered=False
                    )
                except (BulkWriteError, KeyError):
                    await self.check(lease)  # Fenced when a newer owner wrote one; else the error stands
                    raise

    async def read_model(self, collection: str, document_id: str) -> Document | None:
        return await self._db[collection].find_one({"_id": document_id})

    async def write_read_model(
        self,
        lease: Lease,
        collection: str,
        *,
        replace: Iterable[Document] = (),
        set_fields: Iterable[tuple[str, Document]] = (),
    ) -> None:
        """A projection's writes by `_id` (volunteer_tasks, service_records): whole documents to replace, or
        fields to `$set`. Every write stamps the epoch and matches only documents not newer, so a fenced
        replica's late write never replaces the owner's (the upsert then hits the `_id`: Fenced)."""
        newer = {"owner_epoch": {"$not": {"$gt": lease.epoch}}}
        operations: list[Any] = [
            ReplaceOne({"_id": d["_id"], **newer}, {**d, "owner_epoch": lease.epoch}, upsert=True) for d in replace
        ]
        operations += [
            UpdateOne({"_id": _id, **newer}, {"$set": {**fields, "owner_epoch": lease.epoch}}, upsert=True)
            for _id, fields in set_fields
        ]
        for start in range(0, len(operations), MAX_WRITES_PER_COMMAND):
            try:
                await self._db[collection].bulk_write(operations[start : start + MAX_WRITES_PER_COMMAND], ordered=False)
            except (BulkWriteError, KeyError) as exc:
                await self.check(lease)
                raise Fenced(f"{lease.key}: {collection} was written by a newer owner") from exc

    async def write_care(
        self,
        lease: Lease,
        cursors: Iterable[Document],
        log: Iterable[Document],
        rates: Iterable[tuple[str, Document, Document]],
    ) -> None:
        """After the batch's requests: care plans' cursors and the care log (replaced by `_id`, fenced like the
        load), and the care rates (`$inc` by `_id`: written after the requests that mark them counted, so a
        crash in between loses an increment rather than doubling one)."""
        newer = {"owner_epoch": {"$not": {"$gt": lease.epoch}}}
        writes: list[tuple[Any, list[Any]]] = [
            (self._db.care_schedule, [
                ReplaceOne({"_id": c["_id"], **newer}, {**c, "owner_epoch": lease.epoch}, upsert=True) for c in cursors
            ]),
            (self._db.care_log, [
                ReplaceOne({"_id": e["_id"], **newer}, {**e, "owner_epoch": lease.epoch}, upsert=True) for e in log
            ]),
            (self._db.care_rates, [
                UpdateOne({"_id": key}, {"$set": fields, "$inc": increments}, upsert=True)
                for key, fields, increments in rates
            ]),
        ]  # fmt: skip
        for collection, operations in writes:
            for start in range(0, len(operations), MAX_WRITES_PER_COMMAND):
                try:
                    await collection.bulk_write(operations[start : start + MAX_WRITES_PER_COMMAND], ordered=False)
                except (BulkWriteError, KeyError) as exc:
                    await self.check(lease)
                    raise Fenced(f"{lease.key}: a care document was written by a newer owner") from exc

    async def _one_by_one(self, lease: Lease, operations: list[tuple[str, Any]]) -> list[str]:
        refused: list[str] = []
        for request_id, operation in operations:
            try:
                await self._requests.bulk_write([operation], ordered=False)
            except (BulkWriteError, KeyError) as exc:
                details = exc.details.get("writeErrors", []) if isinstance(exc, BulkWriteError) else []
                if any(error.get("code") == DUPLICATE_KEY for error in details):
                    raise Fenced(f"{lease.key}: a document was written by a newer owner") from exc
                log.error("the database refused request %s: %r", request_id, exc)
                refused.append(request_id)
        return refused
