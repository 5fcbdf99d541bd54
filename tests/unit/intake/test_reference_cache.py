"""Intake's reference cache as logic: what it answers from memory, what a token change makes it forget or
reload, and the bounds on trusting a key. The source is a plain dict of documents counting its reads; the
real database is exercised by tests/integration/intake/test_reference_cache.py."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from services.intake.reference_cache import ReferenceCache, changed_collections
from shared.api_keys import Principal, Role
from shared.mongo import Document

D = "d1"
KEY = "gsp_0123456789abcdef_secret"
OPERATOR = Principal("0123456789abcdef", D, Role.OPERATOR, "op")


@dataclass
class DictSource:
    versions_by_scope: dict[str, dict[str, str]] = field(default_factory=dict)
    districts: dict[str, Document] = field(default_factory=lambda: {D: {"_id": D}})
    documents: dict[str, list[Document]] = field(
        default_factory=lambda: {
            "grids": [{"_id": "g1", "district_id": D, "community_id": "c1"}],
            "menu_items": [{"_id": "c1:errand", "district_id": D, "community_id": "c1", "code": "errand"}],
            "residents": [{"_id": "r1", "district_id": D, "phone": "+8613800001234"}],
        }
    )
    keys: dict[str, Principal] = field(default_factory=lambda: {KEY: OPERATOR})
    reads: list[str] = field(default_factory=list)
    gate: asyncio.Event | None = None  # when set, principal reads wait for it
    reading: asyncio.Event = field(default_factory=asyncio.Event)  # set once a principal read has begun

    def bump(self, scope: str, collection: str) -> None:
        tokens = self.versions_by_scope.setdefault(scope, {})
        tokens[collection] = str(int(tokens.get(collection, "0")) + 1)

    async def versions(self) -> dict[str, dict[str, str]]:
        return {scope: dict(tokens) for scope, tokens in self.versions_by_scope.items()}

    async def version(self, scope: str) -> dict[str, str]:
        self.reads.append(f"version:{scope}")
        return dict(self.versions_by_scope.get(scope, {}))

    async def district(self, district_id: str) -> Document | None:
        self.reads.append(f"district:{district_id}")
        return self.districts.get(district_id)

    async def all_of(self, collection: str, district_id: str) -> list[Document]:
        self.reads.append(f"{collection}:{district_id}")
        return [d for d in self.documents.get(collection, []) if d["district_id"] == district_id]

    async def resident_by_phone(self, district_id: str, phone: str) -> Document | None:
        self.reads.append(f"resident-phone:{phone}")
        return next((r for r in self.documents["residents"] if r["phone"] == phone), None)

    async def by_id(self, collection: str, district_id: str, document_id: str) -> Document | None:
        self.reads.append(f"{collection}-id:{document_id}")
        return next((d for d in self.documents.get(collection, []) if d["_id"] == document_id), None)

    async def principal(self, plaintext: str) -> Principal | None:
        self.reads.append("key")
        self.reading.set()
        if self.gate is not None:
            await self.gate.wait()
        return self.keys.get(plaintext)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cache_of(source: DictSource, clock: Clock, **options: float) -> ReferenceCache:
    settings = {"check_seconds": 1.0, "max_age_seconds": 60.0, "key_trust_seconds": 5.0, **options}
    return ReferenceCache(source, clock=clock, **settings)


async def test_a_warm_district_is_answered_from_memory() -> None:
    source, clock = DictSource(), Clock()
    cache = cache_of(source, clock)
    await cache.check()
    assert (await cache.grid(D, "g1") or {})["community_id"] == "c1"
    loaded = len(source.reads)
    for _ in range(100):
        assert await cache.district_exists(D)
        assert await cache.grid(D, "g1") is not None
        assert await cache.menu_item(D, "c1", "errand") is not None
        assert await cache.grid(D, "nope") is None  # an unknown grid costs no read either
        assert await cache.principal(KEY) is not None
        assert await cache.resident_by_phone(D, "+8613800009999") is None  # remembered although not found
    assert source.reads[loaded:] == ["key", "resident-phone:+8613800009999"]


async def test_a_changed_token_reloads_the_snapshot_at_the_next_check() -> None:
    source, clock = DictSource(), Clock()
    cache = cache_of(source, clock)
    await cache.check()
    assert await cache.menu_item(D, "c1", "errand") is not None
    source.documents["menu_items"] = []
    assert await cache.menu_item(D, "c1", "errand") is not None  # not yet told
    source.bump(D, "menu_items")
    await cache.check()
    assert await cache.menu_item(D, "c1", "errand") is None


async def test_an_unknown_district_is_remembered_until_one_of_that_id_appears() -> None:
    source, clock = DictSource(), Clock()
    cache = cache_of(source, clock)
    await cache.check()
    assert not await cache.district_exists("d2")
    reads = len(source.reads)
    assert not await cache.district_exists("d2")
    assert len(source.reads) == reads
    source.districts["d2"] = {"_id": "d2"}
    source.bump("d2", "districts")
    await cache.check()
    assert await cache.district_exists("d2")


async def test_a_revoked_key_is_refused_after_the_next_check() -> None:
    source, clock = DictSource(), Clock()
    cache = cache_of(source, clock)
    await cache.check()
    assert await cache.principal(KEY) is not None
    del source.keys[KEY]
    assert await cache.principal(KEY) is not None  # within the check interval
    source.bump(D, "api_keys")
    clock.now += 1
    await cache.check()
    assert await cache.principal(KEY) is None


async def test_keys_are_read_every_call_while_the_check_is_not_confirmed() -> None:
    source, clock = DictSource(), Clock()
    cache = cache_of(source, clock)
    await cache.check()
    await cache.principal(KEY)
    clock.now += 5.5  # the check failed for longer than key_trust_seconds
    reads = source.reads.count("key")
    await cache.principal(KEY)
    await cache.principal(KEY)
    assert source.reads.count("key") == reads + 2


async def test_zero_trust_caches_no_key() -> None:
    source, clock = DictSource(), Clock()
    cache = cache_of(source, clock, key_trust_seconds=0)
    await cache.check()
    for _ in range(3):
        await cache.principal(KEY)
    assert source.reads.count("key") == 3


async def test_a_key_read_that_raced_a_revocation_is_not_remembered() -> None:
    source, clock = DictSource(), Clock()
    cache = cache_of(source, clock)
    await cache.check()
    source.gate = asyncio.Event()
    pending = asyncio.create_task(cache.principal(KEY))
    await source.reading.wait()
    source.bump(D, "api_keys")  # revoked while the read was under way (it read the key before)
    await cache.check()
    source.gate.set()
    assert await pending is not None
    del source.keys[KEY]
    source.gate = None
    assert await cache.principal(KEY) is None


async def test_this_process_writes_are_seen_at_once() -> None:
    source, clock = DictSource(), Clock()
    cache = cache_of(source, clock)
    await cache.check()
    assert await cache.grid(D, "g2") is None
    source.documents["grids"].append({"_id": "g2", "district_id": D, "community_id": "c1"})
    cache.changed("grids", {D})
    assert await cache.grid(D, "g2") is not None


async def test_resident_look_ups_are_forgotten_when_residents_change() -> None:
    source, clock = DictSource(), Clock()
    cache = cache_of(source, clock)
    await cache.check()
    assert await cache.resident(D, "r2") is None
    source.documents["residents"].append({"_id": "r2", "district_id": D, "phone": "+8613800000002"})
    assert await cache.resident(D, "r2") is None  # remembered
    source.bump(D, "residents")
    await cache.check()
    assert await cache.resident(D, "r2") is not None


async def test_everything_is_reread_after_the_maximum_age() -> None:
    source, clock = DictSource(), Clock()
    cache = cache_of(source, clock)
    await cache.check()
    assert await cache.grid(D, "g1") is not None
    source.documents["grids"] = []  # a writer crashed before bumping the token
    clock.now += 61
    await cache.check()
    assert await cache.grid(D, "g1") is None


async def test_concurrent_first_uses_share_one_load() -> None:
    source, clock = DictSource(), Clock()
    cache = cache_of(source, clock)
    await asyncio.gather(*(cache.grid(D, "g1") for _ in range(20)))
    assert source.reads.count(f"grids:{D}") == 1


@pytest.mark.parametrize(
    ("old", "new", "changed"),
    [
        ({}, {}, set()),
        ({"grids": "a"}, {"grids": "a"}, set()),
        ({"grids": "a"}, {"grids": "b", "api_keys": "c"}, {"grids", "api_keys"}),
        ({"grids": "a"}, {}, {"grids"}),
    ],
)
def test_changed_collections(old: dict[str, str], new: dict[str, str], changed: set[str]) -> None:
    assert changed_collections(old, new) == changed


async def test_a_burst_on_a_cold_key_or_phone_reads_each_once() -> None:
    source, clock = DictSource(), Clock()
    cache = cache_of(source, clock)
    await cache.check()
    await asyncio.gather(*(cache.principal(KEY) for _ in range(20)))
    await asyncio.gather(*(cache.resident_by_phone(D, "+8613800001234") for _ in range(20)))
    assert source.reads.count("key") == 1
    assert source.reads.count("resident-phone:+8613800001234") == 1
