"""Intake's reference data in memory, so that a submission or a command reads no database on its way.

What a submission or command checks, and where it now comes from:
- the API key → a `Principal`, remembered by the key's SHA-256 after its first use;
- the district, its grids and its menu items → a snapshot per district, loaded whole on first use (the
  district's grids and menu items are a few hundred to a few thousand small documents);
- the caller's resident record (by phone; by id for callers that name one) and a named volunteer (by id)
  → remembered per look-up, found or not (residents grow with the population: never loaded whole).

How it stays current: the reference-data admin sets a new token per collection and district in
`reference_versions` after every write (shared/reference_versions.py; `shared.api_keys` for revocations).
A background check reads that small collection every `check_seconds` (INTAKE_REFERENCE_CHECK_SECONDS,
1 s) and, where a token changed, reloads the district's snapshot or forgets the look-ups and keys it fed.
Writes made through this process's own admin API are forgotten at once (`IntakeRepository.on_change`).

Bounds (all while intake reaches the database; docs/intake.md):
- a grid or menu item added, changed or removed elsewhere: seen within `check_seconds` plus one reload;
- a key revoked: refused within `check_seconds` plus one read. A cached key is trusted only while the last
  successful check is at most `key_trust_seconds` old (INTAKE_AUTH_CACHE_SECONDS, 5 s): when the check
  fails, every call reads its key again, so a revocation never waits longer than that. 0 caches no key;
- a writer that crashed between its write and its token: every entry is re-read after `max_age_seconds`
  (INTAKE_REFERENCE_MAX_AGE_SECONDS, 60 s) whatever the tokens say.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

from pymongo.asynchronous.database import AsyncDatabase

from shared import reference_versions
from shared.api_keys import ApiKeyRepository, Principal
from shared.mongo import Document

log = logging.getLogger(__name__)
T = TypeVar("T")

# Collections whose documents make up a district's snapshot (a change reloads it).
SNAPSHOT_COLLECTIONS = ("districts", "grids", "menu_items")
# Collections looked up one document at a time (a change forgets the district's look-ups).
LOOKUP_COLLECTIONS = ("residents", "volunteers")
API_KEYS = "api_keys"
# Bounds on memory: a look-up table or the key table is emptied when it reaches this size.
MAX_LOOKUPS_PER_DISTRICT = 50_000
MAX_KEYS = 20_000
MAX_UNKNOWN_DISTRICTS = 1_000
# A district's grids or menu items beyond this are not read (an error is logged): far above any district.
MAX_DOCUMENTS = 100_000


class ReferenceSource(Protocol):
    """The reads behind the cache: each by `_id` or an indexed equality, none on a growing history."""

    async def versions(self) -> dict[str, dict[str, str]]: ...
    async def version(self, scope: str) -> dict[str, str]: ...
    async def district(self, district_id: str) -> Document | None: ...
    async def all_of(self, collection: str, district_id: str) -> list[Document]: ...
    async def resident_by_phone(self, district_id: str, phone: str) -> Document | None: ...
    async def by_id(self, collection: str, district_id: str, document_id: str) -> Document | None: ...
    async def principal(self, plaintext: str) -> Principal | None: ...


class DatabaseReferenceSource:
    """The reference collections in MongoDB / FerretDB."""

    def __init__(self, db: AsyncDatabase[Document], api_keys: ApiKeyRepository) -> None:
        self._db, self._api_keys = db, api_keys

    async def versions(self) -> dict[str, dict[str, str]]:
        return await reference_versions.read_all(self._db)

    async def version(self, scope: str) -> dict[str, str]:
        return await reference_versions.read_one(self._db, scope)

    async def district(self, district_id: str) -> Document | None:
        return await self._db.districts.find_one({"_id": district_id})

    async def all_of(self, collection: str, district_id: str) -> list[Document]:
        # An equality on district_id, served by the collection's index (its first field).
        documents = [d async for d in self._db[collection].find({"district_id": district_id}).limit(MAX_DOCUMENTS)]
        if len(documents) == MAX_DOCUMENTS:
            log.error("district %s has %d or more %s: the rest are not cached", district_id, MAX_DOCUMENTS, collection)
        return documents

    async def resident_by_phone(self, district_id: str, phone: str) -> Document | None:
        return await self._db.residents.find_one({"district_id": district_id, "phone": phone})

    async def by_id(self, collection: str, district_id: str, document_id: str) -> Document | None:
        return await self._db[collection].find_one({"_id": document_id, "district_id": district_id})

    async def principal(self, plaintext: str) -> Principal | None:
        return await self._api_keys.authenticate(plaintext)


@dataclass(frozen=True)
class DistrictSnapshot:
    """A district's reference data as of `tokens` (read before the documents, so a later change shows)."""

    tokens: Mapping[str, str]
    district: Document | None  # None: no such district (remembered until a token of its id appears)
    grids: Mapping[str, Document]
    menu: Mapping[tuple[str, str], Document]  # by (community_id, code)
    loaded_at: float

    def stale(self, tokens: Mapping[str, str], now: float, max_age: float) -> bool:
        return now - self.loaded_at > max_age or any(tokens.get(c) != self.tokens.get(c) for c in SNAPSHOT_COLLECTIONS)


def changed_collections(old: Mapping[str, str], new: Mapping[str, str]) -> set[str]:
    return {name for name in old.keys() | new.keys() if old.get(name) != new.get(name)}


@dataclass
class _Lookups:
    entries: dict[str, tuple[float, Document | None]] = field(default_factory=dict)
    epoch: int = 0  # raised when forgotten: a read that started before is not stored


class ReferenceCache:
    def __init__(
        self,
        source: ReferenceSource,
        *,
        check_seconds: float = 1.0,
        max_age_seconds: float = 60.0,
        key_trust_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._check_seconds, self._max_age, self._key_trust = check_seconds, max_age_seconds, key_trust_seconds
        self._clock = clock
        self._snapshots: dict[str, DistrictSnapshot] = {}
        self._generations: dict[str, int] = {}  # raised when this process's write drops a snapshot
        self._loading: dict[str, asyncio.Task[DistrictSnapshot]] = {}
        self._reading: dict[str, asyncio.Future[Any]] = {}
        self._lookups: dict[tuple[str, str], _Lookups] = {}
        self._keys: dict[str, tuple[float, Principal]] = {}
        self._keys_epoch = 0
        self._seen: dict[str, dict[str, str]] = {}
        self._checked_at = -math.inf
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self.database_reads = 0  # reads made on a caller's behalf (misses); the check's own are not counted

    # --- what routes ask ------------------------------------------------------------------------

    async def district(self, district_id: str) -> Document | None:
        return (await self._snapshot(district_id)).district

    async def district_exists(self, district_id: str) -> bool:
        return (await self._snapshot(district_id)).district is not None

    async def grid(self, district_id: str, grid_id: str) -> Document | None:
        return (await self._snapshot(district_id)).grids.get(grid_id)

    async def menu_item(self, district_id: str, community_id: str, code: str) -> Document | None:
        return (await self._snapshot(district_id)).menu.get((community_id, code))

    async def resident_by_phone(self, district_id: str, phone: str) -> Document | None:
        return await self._lookup(
            district_id, "residents", f"phone:{phone}", lambda: self._source.resident_by_phone(district_id, phone)
        )

    async def resident(self, district_id: str, resident_id: str) -> Document | None:
        return await self._lookup(
            district_id,
            "residents",
            f"id:{resident_id}",
            lambda: self._source.by_id("residents", district_id, resident_id),
        )

    async def volunteer(self, district_id: str, volunteer_id: str) -> Document | None:
        return await self._lookup(
            district_id, "volunteers", volunteer_id, lambda: self._source.by_id("volunteers", district_id, volunteer_id)
        )

    async def principal(self, plaintext: str) -> Principal | None:
        """The key's principal; None when it is unknown or revoked (never remembered: a new key works at once)."""
        digest = hashlib.sha256(plaintext.encode()).hexdigest()
        now = self._clock()
        hit = self._keys.get(digest)
        if hit is not None and now - hit[0] <= self._max_age and now - self._checked_at <= self._key_trust:
            return hit[1]
        return await self._once(f"key:{digest}", lambda: self._read_principal(plaintext, digest, now))

    async def _read_principal(self, plaintext: str, digest: str, now: float) -> Principal | None:
        epoch = self._keys_epoch
        self.database_reads += 1
        principal = await self._source.principal(plaintext)
        if principal is not None and self._key_trust > 0 and epoch == self._keys_epoch:
            if len(self._keys) >= MAX_KEYS:
                self._keys.clear()
            self._keys[digest] = (now, principal)
        return principal

    async def _once(self, key: str, read: Callable[[], Awaitable[T]]) -> T:
        """One read per key at a time: callers arriving meanwhile (a burst on a cold cache) share its answer."""
        task = self._reading.get(key)
        if task is None:
            task = asyncio.ensure_future(read())
            self._reading[key] = task
            task.add_done_callback(lambda _: self._reading.pop(key, None))
        return cast(T, await task)

    # --- keeping current ------------------------------------------------------------------------

    def changed(self, collection: str, districts: set[str]) -> None:
        """This process wrote `collection` in these districts: forget what it fed, now."""
        for district_id in districts:
            if collection in SNAPSHOT_COLLECTIONS:
                self._snapshots.pop(district_id, None)
                self._generations[district_id] = self._generations.get(district_id, 0) + 1
            self._forget(district_id, {collection})

    async def check(self) -> None:
        """Read every district's tokens; forget or reload what changed (and snapshots past their age)."""
        versions = await self._source.versions()
        now = self._clock()
        for scope in versions.keys() | self._seen.keys():
            changed = changed_collections(self._seen.get(scope, {}), versions.get(scope, {}))
            if changed:
                self._forget(scope, changed)
        self._seen = versions
        self._checked_at = now
        stale = [d for d, s in self._snapshots.items() if s.stale(versions.get(d, {}), now, self._max_age)]
        outcomes = await asyncio.gather(*(self._load(d) for d in stale), return_exceptions=True)
        for district_id, outcome in zip(stale, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                # The old snapshot stays until a reload succeeds; the next check tries again.
                log.warning("reloading reference data of %s failed: %r", district_id, outcome)

    async def start(self) -> None:
        """A first check (so keys are trusted from the first call), then one every `check_seconds`."""
        if self._task is not None:
            return
        try:
            await asyncio.wait_for(self.check(), self._key_trust or self._check_seconds)
        except Exception as exc:  # intake starts without the database; the loop goes on trying
            log.warning("first reference version check failed: %r", exc)
        self._task = asyncio.create_task(self._run(), name="reference-cache-check")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._check_seconds)
            try:
                await self.check()
                if self._failing:
                    log.info("reference version check works again")
                self._failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._failing:
                    log.warning("reference version check failed (keys are re-read per call until it works): %r", exc)
                self._failing = True

    def _forget(self, scope: str, collections: set[str]) -> None:
        for collection in collections & set(LOOKUP_COLLECTIONS):
            lookups = self._lookups.get((scope, collection))
            if lookups is not None:
                lookups.entries.clear()
                lookups.epoch += 1
        if API_KEYS in collections:
            district_id = None if scope == reference_versions.PLATFORM else scope
            for digest in [d for d, (_, p) in self._keys.items() if p.district_id == district_id]:
                del self._keys[digest]
            self._keys_epoch += 1
        # Snapshots compare their own tokens in `check` (also a district created since we found none).

    # --- loading --------------------------------------------------------------------------------

    async def _snapshot(self, district_id: str) -> DistrictSnapshot:
        snapshot = self._snapshots.get(district_id)
        # The check reloads snapshots in the background; this bound holds also when it is not running.
        if snapshot is not None and self._clock() - snapshot.loaded_at <= self._max_age + self._check_seconds:
            return snapshot
        self.database_reads += 1
        return await self._load(district_id)

    def _load(self, district_id: str) -> asyncio.Task[DistrictSnapshot]:
        """One load per district at a time, shared by every caller that needs it meanwhile."""
        task = self._loading.get(district_id)
        if task is None:
            task = asyncio.ensure_future(self._read_snapshot(district_id))
            self._loading[district_id] = task
            task.add_done_callback(lambda _: self._loading.pop(district_id, None))
        return task

    async def _read_snapshot(self, district_id: str) -> DistrictSnapshot:
        generation = self._generations.get(district_id, 0)
        tokens = await self._source.version(district_id)
        district = await self._source.district(district_id)
        grids: list[Document] = []
        items: list[Document] = []
        if district is not None:
            grids, items = await asyncio.gather(
                self._source.all_of("grids", district_id), self._source.all_of("menu_items", district_id)
            )
        snapshot = DistrictSnapshot(
            tokens=tokens,
            district=district,
            grids={g["_id"]: g for g in grids},
            menu={(i.get("community_id", ""), i.get("code", "")): i for i in items},
            loaded_at=self._clock(),
        )
        if generation == self._generations.get(district_id, 0):
            if district is None and len(self._snapshots) >= MAX_UNKNOWN_DISTRICTS:
                for unknown in [d for d, s in self._snapshots.items() if s.district is None]:
                    del self._snapshots[unknown]
            self._snapshots[district_id] = snapshot
        return snapshot

    async def _lookup(
        self, district_id: str, collection: str, key: str, read: Callable[[], Awaitable[Document | None]]
    ) -> Document | None:
        lookups = self._lookups.setdefault((district_id, collection), _Lookups())
        now = self._clock()
        hit = lookups.entries.get(key)
        if hit is not None and now - hit[0] <= self._max_age:
            return hit[1]

        async def remembered() -> Document | None:
            epoch = lookups.epoch
            self.database_reads += 1
            found = await read()
            if lookups.epoch == epoch:
                if len(lookups.entries) >= MAX_LOOKUPS_PER_DISTRICT:
                    lookups.entries.clear()
                lookups.entries[key] = (now, found)
            return found

        return await self._once(f"{district_id}|{collection}|{key}", remembered)
