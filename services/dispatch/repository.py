"""Dispatch's MongoDB access: the request aggregate, the volunteer roster and its load, menu items, timers.

FerretDB v1 has no transactions, and its conditional updates (`update_one` / `replace_one` /
`find_one_and_update` with a filter on a field other than `_id`) are not atomic across connections: two
writers racing on `{_id, version: v}` can both match. What both FerretDB and MongoDB do atomically is
inserting documents with the same `_id` (exactly one insert wins, the others get a DuplicateKeyError).
A filtered delete is not a compare-and-delete either (it finds, then deletes by `_id`). So every
exclusive write here is guarded by an insert-claimed document (`Claims`):

- a request's version v+1 is claimed in `request_version_claims` (`_id: "<request>@<v+1>"`) before the
  request document is replaced; losers see a conflict and re-read;
- a due timer is claimed in `timer_claims` per lease epoch (`_id: "<timer>|<lease_until ms>"`);
- a volunteer's load is a set of `volunteer_slots` (`_id: "<volunteer>#<k>"`, k < capacity), one per
  request counted; `open_assignments` / `assignment_ids` on the volunteer are kept for readers.

A claim whose holder died is taken over once it is older than its lease and what it guarded has not
moved on, by inserting a takeover claim next to it (see `Claims`).

Filters on the hot paths are exactly `{_id: x}`: FerretDB v1 (SQLite) pushes only that filter down to
SQL and runs any other one (an extra field, a sort, a limit) in Go over every document of the
collection. So reads by id fetch `{_id}` and check the rest (the district, the version, a token) in
Python; a document of another district is treated as missing. The version-checked writes are guarded
by their claim instead of a `version` filter (see `RequestRepository._transition`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

from services.dispatch.domain.states import EscalationLevel
from shared.consumer_loop import RetryLater
from shared.mongo import Document

log = logging.getLogger(__name__)

NEVER_LEASED: Final = datetime(1970, 1, 1, tzinfo=UTC)
# How long a claimed version may stay unwritten before another writer may take it over.
DEFAULT_CLAIM_LEASE: Final = timedelta(seconds=30)
# Due timers looked at per claim attempt: losers of a race move on to the next one.
TIMER_CANDIDATES: Final = 8
# Rewrites of a volunteer's counters until they agree with the slots (concurrent writers converge).
LOAD_SYNC_ATTEMPTS: Final = 6
# Which field of a volunteer (and of a request) names the area of each level.
AREA_FIELD: Final = {
    EscalationLevel.GRID: "grid_id",
    EscalationLevel.COMMUNITY: "community_id",
    EscalationLevel.STREET: "street_office_id",
    EscalationLevel.DISTRICT: None,
}


def _utcnow() -> datetime:
    """Milliseconds, as the database stores them, so that a claim's `at` reads back unchanged."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _in_district(document: Document | None, district_id: str) -> Document | None:
    """Tenancy for reads by `_id`: a document of another district is as good as missing."""
    return document if document is not None and document.get("district_id") == district_id else None


def _has_all(document: Document, field: str, wanted: Iterable[str]) -> bool:
    """`{field: {$all: wanted}}` in Python (an array holding every value, or a scalar equal to the only one)."""
    value = document.get(field)
    held = set(value) if isinstance(value, list) else {value}
    return held.issuperset(wanted)


@dataclass(frozen=True)
class Claim:
    id: str
    at: datetime
    token: str
    taken: float  # time.monotonic() when the insert returned

    def held_for(self) -> float:
        return time.monotonic() - self.taken


StillWanted = Callable[[], Awaitable[bool]]


class Claims:
    """Exclusive leased claims: whoever inserts the claim's `_id` first holds it; the rest get None.

    Only the insert is trusted. A delete with a filter is not a compare-and-delete on FerretDB (it finds
    the documents, then deletes those `_id`s, so it may remove one inserted meanwhile), so a claim is
    never deleted to hand it on. A holder that died leaves its claim behind; once that claim is older than
    `lease` and `still_wanted` says what it guarded has not moved on (the request is still at the version
    the claimer read, the timer still in the same lease epoch), the next claimer inserts the takeover
    `<key>~1` (then `~2`, ...), again won by exactly one. Claims are removed only when what they guarded is
    over (an older request version, a timer done), where removing one taken meanwhile does no harm.

    A holder that is merely slow must not write once another may have taken over: `expired` says so at
    half the lease, which also absorbs clock skew between replicas of up to half the lease.
    """

    TAKEOVERS: Final = 16

    def __init__(self, collection: AsyncCollection[Document], lease: timedelta) -> None:
        self.collection = collection
        self.lease = lease

    async def take(self, key: str, still_wanted: StillWanted, **fields: Any) -> Claim | None:
        attempt, looks = 0, 0
        while attempt <= self.TAKEOVERS and looks <= 2 * self.TAKEOVERS:
            claim_id = key if attempt == 0 else f"{key}~{attempt}"
            at, token = _utcnow(), uuid.uuid4().hex
            try:
                await self.collection.insert_one({**fields, "_id": claim_id, "key": key, "at": at, "token": token})
            except DuplicateKeyError:
                pass
            else:
                return Claim(claim_id, at, token, time.monotonic())
            looks += 1
            existing = await self.collection.find_one({"_id": claim_id})
            if existing is None:
                continue  # removed between our insert and our look: try the same one again
            if _aware(existing["at"]) > _utcnow() - self.lease or not await still_wanted():
                return None
            log.warning("taking over the stale claim %s of %s", claim_id, _aware(existing["at"]).isoformat())
            attempt += 1
        return None

    def expired(self, claim: Claim) -> bool:
        """Held so long that another writer may soon take it over: do not write under it any more."""
        return claim.held_for() > self.lease.total_seconds() / 2


class VersionConflict(RetryLater):
    """Another writer changed the request since it was read, or still holds its next version's claim
    (a writer killed mid-write holds it until the lease runs out): reload and apply again, later."""


class RequestRepository:
    """Requests with optimistic concurrency on `version`; each version transition is claimed first."""

    def __init__(self, db: AsyncDatabase[Document], *, claim_lease: timedelta = DEFAULT_CLAIM_LEASE) -> None:
        self._requests = db.requests
        self._claims = Claims(db.request_version_claims, claim_lease)

    @property
    def claim_lease(self) -> timedelta:
        return self._claims.lease

    @claim_lease.setter
    def claim_lease(self, lease: timedelta) -> None:
        self._claims.lease = lease

    async def ensure_indexes(self) -> None:
        await self._requests.create_index([("district_id", ASCENDING), ("status", ASCENDING)])
        await self._requests.create_index([("outbox_pending", ASCENDING)])
        await self._requests.create_index([("waiting", ASCENDING), ("district_id", ASCENDING)])
        await self._requests.create_index([("district_id", ASCENDING), ("grid_id", ASCENDING)])
        await self._requests.create_index([("district_id", ASCENDING), ("community_id", ASCENDING)])
        await self._claims.collection.create_index([("request_id", ASCENDING)])

    async def get(self, request_id: str) -> Document | None:
        return await self._requests.find_one({"_id": request_id})

    async def get_in_district(self, district_id: str, request_id: str) -> Document | None:
        return _in_district(await self._requests.find_one({"_id": request_id}), district_id)

    async def create(self, document: Document) -> bool:
        """Insert a new request; False when it already exists (a redelivery or a retried submit)."""
        try:
            await self._requests.insert_one(document)
        except DuplicateKeyError:
            return False
        return True

    async def save(self, document: Document) -> bool:
        """Replace the request if nobody wrote it since `document['version']` was read; bumps the version."""
        expected = document["version"]

        async def replace() -> bool:
            replacement = {**document, "version": expected + 1}
            result = await self._requests.replace_one({"_id": document["_id"]}, replacement)
            return result.matched_count == 1

        if await self._transition(document["_id"], expected, replace):
            document["version"] = expected + 1
            return True
        return False

    async def clear_side_effects(
        self, request_id: str, *, event_ids: set[str], timer_ids: set[str], releases: set[str], attempts: int = 10
    ) -> None:
        """Drop what was carried out from the outbox of the latest version of the request."""
        for _ in range(attempts):
            document = await self.get(request_id)
            if document is None:
                return
            outbox = [e for e in document.get("outbox", []) if e["id"] not in event_ids]
            timers = [t for t in document.get("timers_pending", []) if t["_id"] not in timer_ids]
            release = [v for v in document.get("releases_pending", []) if v not in releases]
            update: dict[str, Any] = {
                "$set": {
                    "outbox": outbox,
                    "timers_pending": timers,
                    "releases_pending": release,
                    "outbox_pending": bool(outbox or timers or release),
                },
            }
            version = document["version"]
            update["$set"]["version"] = version + 1

            async def clear(update: dict[str, Any] = update) -> bool:
                result = await self._requests.update_one({"_id": request_id}, update)
                return result.matched_count == 1

            if await self._transition(request_id, version, clear):
                return
        raise VersionConflict(request_id)

    async def _transition(self, request_id: str, expected: int, write: Callable[[], Awaitable[bool]]) -> bool:
        """Write version `expected + 1` of the request under an exclusive claim; False on any conflict.

        The claim `<request>@<expected + 1>` makes the writer the only one allowed to move the request from
        `expected`, so `write` filters on `_id` alone (a `version` filter is never pushed down on FerretDB v1:
        every request ever stored would be read). The claim alone does not turn away a writer whose read was
        already stale: once the request has moved on, the claims of past versions are removed, so such a
        writer may claim one of them again. Hence the version is read back by `_id` *after* the claim: a
        past version's claim is removed only after the write that moved the request past it, so whoever
        claims it afterwards reads the newer version here and gives up (removing its useless claim). Between
        this read and the write nobody else can move the request from `expected`: that needs this claim, or
        taking it over after the lease, which `expired` guards against as before.
        """
        key = f"{request_id}@{expected + 1}"
        claim = await self._claims.take(
            key,
            lambda: self._at_version(request_id, expected),
            request_id=request_id,
            version=expected + 1,
        )
        if claim is None:
            return False
        claims = self._claims.collection
        if await self._version(request_id) != expected:
            # Our read was stale and the request has moved past `expected`: this claim guards nothing.
            await claims.delete_one({"_id": claim.id})
            return False
        if claim.id != key:
            # A takeover (`<key>~k`): note it on the dead claim, so that whoever removes that one (the next
            # transition) removes ours too. Noted before writing, so it is there once the version is.
            await claims.update_one({"_id": key}, {"$max": {"takeovers": int(claim.id[len(key) + 1 :])}})
        if self._claims.expired(claim) or not await write():
            return False
        if expected > 1:
            await self._clear_claims(request_id, expected)
        return True

    async def _clear_claims(self, request_id: str, expected: int) -> None:
        """Housekeeping after writing `expected + 1`: the claims that wrote `expected` guard nothing any more.

        The new version's claim stays until the next transition, one small document per request. Removal is
        by `_id` (`<request>@<expected>`, and `…~1`..`~k` when it notes k takeovers). Only when that claim
        is missing (removed by hand, or written before claims were noted) are the request's claims looked
        up by `request_id`, which is a scan on FerretDB. Version 1 is inserted, never claimed.
        """
        claims = self._claims.collection
        key = f"{request_id}@{expected}"
        previous = await claims.find_one_and_delete({"_id": key})
        if previous is None:
            await claims.delete_many({"request_id": request_id, "version": {"$lte": expected}})
            return
        for k in range(1, int(previous.get("takeovers", 0)) + 1):
            await claims.delete_one({"_id": f"{key}~{k}"})

    async def _version(self, request_id: str) -> int | None:
        document = await self._requests.find_one({"_id": request_id}, {"version": 1})
        return None if document is None else int(document["version"])

    async def _at_version(self, request_id: str, version: int) -> bool:
        return await self._version(request_id) == version

    async def with_pending_outbox(self, older_than: datetime, limit: int = 100) -> list[Document]:
        cursor = self._requests.find({"outbox_pending": True, "updated_at": {"$lt": older_than}}).limit(limit)
        return [document async for document in cursor]

    async def waiting(self, *, district_id: str | None = None, limit: int = 50) -> list[str]:
        """Requests with nobody assigned and no open offer, oldest first."""
        query: Document = {"waiting": True}
        if district_id is not None:
            query["district_id"] = district_id
        cursor = self._requests.find(query).sort([("submitted_at", ASCENDING)]).limit(limit)
        return [document["_id"] async for document in cursor]

    async def decisions_in_window(
        self, *, district_id: str, area_field: str, area_id: str, start: datetime, end: datetime
    ) -> dict[str, int]:
        """Assignments per volunteer in [start, end) for requests of one grid or community."""
        pipeline: list[Document] = [
            {"$match": {"district_id": district_id, area_field: area_id}},
            {"$unwind": "$decisions"},
            {
                "$match": {
                    "decisions.kind": {"$in": ["accept", "override"]},
                    "decisions.at": {"$gte": start, "$lt": end},
                }
            },
            {"$group": {"_id": "$decisions.chosen_volunteer_id", "count": {"$sum": 1}}},
        ]
        cursor = await self._requests.aggregate(pipeline)
        return {row["_id"]: int(row["count"]) async for row in cursor if row["_id"]}


class VolunteerRepository:
    def __init__(self, db: AsyncDatabase[Document], *, claim_lease: timedelta = DEFAULT_CLAIM_LEASE) -> None:
        self._volunteers = db.volunteers
        self._slots = db.volunteer_slots
        # One claim per occupancy of a slot being freed: releases racing for it delete it once.
        self._releases = Claims(db.volunteer_slot_releases, claim_lease)

    @property
    def claim_lease(self) -> timedelta:
        return self._releases.lease

    @claim_lease.setter
    def claim_lease(self, lease: timedelta) -> None:
        self._releases.lease = lease

    async def ensure_indexes(self) -> None:
        # `_id` last: the candidate sort `(open_assignments, last_assigned_at, _id)` is then served by the
        # index on MongoDB instead of sorting every matching volunteer of the area in memory.
        load = [("active", ASCENDING), ("open_assignments", ASCENDING), ("last_assigned_at", ASCENDING)]
        for field in ("grid_id", "community_id", "street_office_id"):
            keys = [("district_id", ASCENDING), (field, ASCENDING), *load]
            await self._volunteers.create_index([*keys, ("_id", ASCENDING)])
            await self._drop_index(keys)
        keys = [("district_id", ASCENDING), *load]
        await self._volunteers.create_index([*keys, ("_id", ASCENDING)])
        await self._drop_index(keys)
        await self._slots.create_index([("volunteer_id", ASCENDING), ("request_id", ASCENDING)])
        if adopted := await self.adopt_counted_assignments():
            log.info("gave slots to %d assignments counted before volunteer slots", adopted)

    async def _drop_index(self, keys: list[tuple[str, int]]) -> None:
        """Drop an index created by an earlier version (now a prefix of the one with `_id`), if present."""
        name = "_".join(f"{field}_{direction}" for field, direction in keys)
        if name in await self._volunteers.index_information():
            try:
                await self._volunteers.drop_index(name)
            except OperationFailure:  # another replica dropped it first
                log.debug("index %s already dropped", name)

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
        """Active volunteers of the area with the skills: the least loaded, the resident's language, the linked heart.

        A full scan of a district would not scale, so the query takes the `limit` least loaded (the
        index order) plus the `limit` least loaded speakers of the resident's language; ranking then
        happens in the pure domain over this short list.
        """
        query: Document = {"district_id": district_id, "active": True}
        field = AREA_FIELD[level]
        if field is not None:
            query[field] = area_id
        skills = sorted(set(required_skills))
        if skills:
            query["skills"] = {"$all": skills}
        order = [("open_assignments", ASCENDING), ("last_assigned_at", ASCENDING), ("_id", ASCENDING)]
        found: dict[str, Document] = {}
        queries = [query]
        if language:
            queries.append({**query, "languages": language})
        for q in queries:
            async for document in self._volunteers.find(q).sort(order).limit(limit):
                found.setdefault(document["_id"], document)
        if linked_heart_id and linked_heart_id not in found:
            # By `_id` alone (pushed down on FerretDB), the rest of the query checked here.
            linked = _in_district(await self._volunteers.find_one({"_id": linked_heart_id}), district_id)
            if (
                linked is not None
                and linked.get("active") is True
                and (field is None or linked.get(field) == area_id)
                and _has_all(linked, "skills", skills)
            ):
                found[linked["_id"]] = linked
        return list(found.values())

    async def by_ids(self, district_id: str, volunteer_ids: Iterable[str]) -> dict[str, Document]:
        """The volunteers of the district among `volunteer_ids`, each read by `_id` (an `$in` is a scan on FerretDB)."""
        ids = sorted(set(volunteer_ids))
        read = await asyncio.gather(*(self._volunteers.find_one({"_id": volunteer_id}) for volunteer_id in ids))
        return {
            document["_id"]: document for document in read if document and document.get("district_id") == district_id
        }

    async def reserve(self, district_id: str, volunteer_id: str, request_id: str, at: datetime) -> bool:
        """Count `request_id` against the volunteer's capacity unless full; True also when already counted.

        The guard is a slot per assignment: `volunteer_slots` `_id: "<volunteer>#<k>"` for k < capacity,
        taken by inserting it, so no race can hand out more slots than the capacity. Two reserves of the
        same request racing may both take one; the extra is given back at once (the lowest slot stays).
        A capacity lowered below the slots held refuses new reserves until enough are released.
        """
        volunteer = _in_district(await self._volunteers.find_one({"_id": volunteer_id}), district_id)
        if volunteer is None or not volunteer.get("active", True):
            return False
        held = await self._held(volunteer_id)
        if request_id in held.values():
            if request_id not in volunteer.get("assignment_ids", []):
                await self._sync_load(volunteer_id)
            return True
        capacity = int(volunteer.get("capacity", 1))
        for k in range(capacity):
            if k in held:
                continue
            if await self._take_slot(district_id, volunteer_id, request_id, k, at):
                await self._sync_load(volunteer_id, assigned_at=at)
                return True
        # Full — unless a concurrent reserve of this same request is what filled it.
        return await self._slots.find_one({"volunteer_id": volunteer_id, "request_id": request_id}) is not None

    async def release(self, volunteer_id: str, request_id: str) -> bool:
        """Stop counting `request_id`; a no-op when it is not counted (idempotent). True when a slot was freed."""
        freed = False
        for slot in await self._slots.find({"volunteer_id": volunteer_id, "request_id": request_id}).to_list():
            freed = await self._free(slot) or freed
        await self._sync_load(volunteer_id)
        return freed

    async def _free(self, slot: Document) -> bool:
        """Delete this occupancy of the slot (its `token`), exactly once however many free it at once.

        A delete filtered on the request id is not enough on FerretDB: two releases of one request may both
        find the slot, one deletes it, a reserve re-takes the slot for another request, and the other
        release's delete (by `_id`) would remove that one. So the freeing is claimed per occupancy first;
        only the claim's holder deletes, and only while the slot still holds that occupancy.
        """
        token = slot.get("token", "")

        async def still_held() -> bool:
            held = await self._slots.find_one({"_id": slot["_id"]}, {"token": 1})
            return held is not None and held.get("token", "") == token

        claim = await self._releases.take(f"{slot['_id']}/{token}", still_held, volunteer_id=slot["volunteer_id"])
        if claim is None or self._releases.expired(claim):
            return False
        # Nobody but us removes this occupancy now; if it is gone already, our read of it was stale.
        freed = await still_held() and (await self._slots.delete_one({"_id": slot["_id"]})).deleted_count == 1
        await self._releases.collection.delete_one({"_id": claim.id})
        return freed

    async def _take_slot(self, district_id: str, volunteer_id: str, request_id: str, k: int, at: datetime) -> bool:
        try:
            await self._slots.insert_one(
                {
                    "_id": f"{volunteer_id}#{k}",
                    "volunteer_id": volunteer_id,
                    "district_id": district_id,
                    "request_id": request_id,
                    "k": k,
                    "token": uuid.uuid4().hex,  # this occupancy of the slot
                    "at": at,
                }
            )
        except DuplicateKeyError:
            return False
        # A concurrent reserve of the same request may have taken another slot: keep only the lowest.
        mine = await self._slots.find({"volunteer_id": volunteer_id, "request_id": request_id}).to_list()
        for extra in sorted(mine, key=lambda slot: int(slot["k"]))[1:]:
            await self._free(extra)
        return True

    async def _held(self, volunteer_id: str) -> dict[int, str]:
        """Slot number → request id of every slot the volunteer holds."""
        return {slot["k"]: slot["request_id"] async for slot in self._slots.find({"volunteer_id": volunteer_id})}

    async def _sync_load(self, volunteer_id: str, *, assigned_at: datetime | None = None) -> None:
        """Copy the slots onto the volunteer (`open_assignments`, `assignment_ids`) for ranking and the console.

        Concurrent writers of one volunteer may overwrite each other on FerretDB, so each one reads back
        and writes again until the document agrees with the slots it sees; the last writer leaves it right.
        """
        for _ in range(LOAD_SYNC_ATTEMPTS):
            ids = sorted(set((await self._held(volunteer_id)).values()))
            fields: Document = {"open_assignments": len(ids), "assignment_ids": ids}
            if assigned_at is not None:
                fields["last_assigned_at"] = assigned_at
            await self._volunteers.update_one({"_id": volunteer_id}, {"$set": fields})
            stored = await self._volunteers.find_one(
                {"_id": volunteer_id}, {"open_assignments": 1, "assignment_ids": 1, "last_assigned_at": 1}
            )
            if stored is None:
                return
            last = stored.get("last_assigned_at")
            if (
                stored.get("assignment_ids") == sorted(set((await self._held(volunteer_id)).values()))
                and stored.get("open_assignments") == len(stored.get("assignment_ids") or [])
                and (assigned_at is None or (last is not None and _aware(last) >= assigned_at))
            ):
                return
        log.warning("load of volunteer %s still moving after %d writes", volunteer_id, LOAD_SYNC_ATTEMPTS)

    async def adopt_counted_assignments(self) -> int:
        """Give a slot to every assignment counted before slots existed (`assignment_ids` without a slot)."""
        held: dict[str, dict[int, str]] = {}
        async for slot in self._slots.find({}, {"volunteer_id": 1, "request_id": 1, "k": 1}):
            held.setdefault(slot["volunteer_id"], {})[slot["k"]] = slot["request_id"]
        loaded = await self._volunteers.find(
            {"open_assignments": {"$gt": 0}},
            {"district_id": 1, "capacity": 1, "assignment_ids": 1, "last_assigned_at": 1},
        ).to_list()
        adopted = 0
        for volunteer in loaded:
            mine = held.get(volunteer["_id"], {})
            counted = [r for r in volunteer.get("assignment_ids") or [] if isinstance(r, str)]
            missing = [r for r in counted if r not in mine.values()]
            if not missing:
                continue
            at = volunteer.get("last_assigned_at") or _utcnow()
            free = (k for k in range(max(int(volunteer.get("capacity", 1)), len(counted))) if k not in mine)
            for request_id in missing:
                for k in free:
                    if await self._take_slot(volunteer.get("district_id", ""), volunteer["_id"], request_id, k, at):
                        adopted += 1
                        break
            await self._sync_load(volunteer["_id"])
        return adopted

    async def roster(self, district_id: str, area_field: str, area_id: str) -> list[str]:
        cursor = self._volunteers.find({"district_id": district_id, area_field: area_id})
        return [document["_id"] async for document in cursor]


class ReferenceRepository:
    """Read-only reference data: grids, menu items and who answers for each level."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db

    async def grid(self, district_id: str, grid_id: str) -> Document | None:
        return _in_district(await self._db.grids.find_one({"_id": grid_id}), district_id)

    async def menu_item(self, district_id: str, community_id: str, code: str) -> Document | None:
        """A community's item: `_id` is `<community_id>:<code>` wherever menu items are written."""
        item = _in_district(await self._db.menu_items.find_one({"_id": f"{community_id}:{code}"}), district_id)
        if item is None or item.get("community_id") != community_id or item.get("code") != code:
            return None
        return item

    async def responsible(self, district_id: str, level: EscalationLevel, area_id: str | None) -> Document:
        """Who answers for an area: the grid team's captain, the community director, the street office."""
        if level is EscalationLevel.GRID and area_id:
            team = await self._db.teams.find_one({"district_id": district_id, "grid_id": area_id})
            return {"volunteer_id": team.get("captain_volunteer_id")} if team else {}
        if level is EscalationLevel.COMMUNITY and area_id:
            community = _in_district(await self._db.communities.find_one({"_id": area_id}), district_id)
            return {"name": community.get("director_name")} if community else {}
        if level is EscalationLevel.STREET and area_id:
            office = _in_district(await self._db.street_offices.find_one({"_id": area_id}), district_id)
            return {"name": office.get("responsible_name")} if office else {}
        district = await self._db.districts.find_one({"_id": district_id})
        return {"name": district.get("name_zh")} if district else {}


class TimerRepository:
    """Durable wake-ups: claimed exclusively per lease epoch, deleted once their effect is saved."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._timers = db.timers
        self._claim_docs = db.timer_claims

    async def ensure_indexes(self) -> None:
        await self._timers.create_index([("due_at", ASCENDING)])
        await self._timers.create_index([("request_id", ASCENDING)])
        await self._claim_docs.create_index([("timer_id", ASCENDING)])

    async def schedule(self, timers: Iterable[Document]) -> None:
        """Insert timers by their deterministic ids; one already there (a replay) is left alone."""
        for timer in timers:
            await self._timers.update_one({"_id": timer["_id"]}, {"$setOnInsert": timer}, upsert=True)

    async def claim(self, owner: str, now: datetime, lease: timedelta) -> Document | None:
        """The earliest due timer nobody holds, now held by `owner` until `now + lease`; None when none is.

        A timer's lease epoch is its `lease_until`: claiming inserts `timer_claims` `_id:
        "<timer>|<lease_until ms>"`, so exactly one replica wins each epoch, and moves `lease_until` on.
        When the holder dies, the lease runs out and the next epoch can be claimed; a holder that died
        between its insert and moving the lease is taken over after `lease` (see `Claims`).
        """
        claims = Claims(self._claim_docs, lease)
        cursor = (
            self._timers.find({"due_at": {"$lte": now}, "lease_until": {"$lte": now}})
            .sort([("due_at", ASCENDING), ("_id", ASCENDING)])
            .limit(TIMER_CANDIDATES)
        )
        for timer in [timer async for timer in cursor]:
            epoch = {"_id": timer["_id"], "lease_until": timer["lease_until"]}

            async def still_due(epoch: Document = epoch) -> bool:
                current = await self._timers.find_one({"_id": epoch["_id"]}, {"lease_until": 1})
                lease_until = None if current is None else current.get("lease_until")
                return isinstance(lease_until, datetime) and _aware(lease_until) == _aware(epoch["lease_until"])

            lease_ms = int(_aware(timer["lease_until"]).timestamp() * 1000)
            claim = await claims.take(f"{timer['_id']}|{lease_ms}", still_due, timer_id=timer["_id"], owner=owner)
            if claim is None:
                continue
            if claims.expired(claim):
                continue  # too slow: another replica may take this epoch over (ours stays, see Claims)
            # The epoch is ours. If the timer was done and deleted (or re-leased) before our insert, the
            # claim came too late: nobody will take this epoch over, so remove ours.
            if not await still_due():
                await self._claim_docs.delete_one({"_id": claim.id})
                continue
            # The epoch's claim makes us its only writer (and `still_due` has just seen it): `{_id}` suffices.
            leased = {"lease_until": now + lease, "claimed_by": owner}
            await self._timers.update_one({"_id": timer["_id"]}, {"$set": leased})
            return {**timer, **leased}
        return None

    async def done(self, timer_id: str, owner: str) -> None:
        result = await self._timers.delete_one({"_id": timer_id, "claimed_by": owner})
        if result.deleted_count == 1:
            await self._claim_docs.delete_many({"timer_id": timer_id})
