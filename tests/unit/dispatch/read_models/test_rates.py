"""Per-day rates as dispatch projects them: contributions replaced by request id, never double counted."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.dispatch.read_models import rates
from services.dispatch.read_models.rates import LedgerShard, MonthTallies, contribution, day_of, minute_bucket

T0 = datetime(2026, 11, 2, 20, 0, tzinfo=UTC)


def request(
    request_id: str, *, status: str = "assigned", assigned_after: float | None = 12, **fields: Any
) -> dict[str, Any]:
    timeline = [{"type": "request.received", "time": T0.isoformat()}]
    if assigned_after is not None:
        timeline.append({"type": "request.assigned", "time": (T0 + timedelta(minutes=assigned_after)).isoformat()})
    return {
        "_id": request_id,
        "district_id": "d1",
        "community_id": "c1",
        "grid_id": "g1",
        "menu_item_code": "errand.medicine",
        "status": status,
        "submitted_at": T0,
        "timeline": timeline,
        **fields,
    }


def day_groups(shards: list[LedgerShard], group_by: rates.GroupBy) -> list[dict[str, Any]]:
    """A day's tallies of one grouping as the monthly document stores them."""
    parsed: list[dict[str, Any]] = json.loads(rates.tallies_text(rates.day_tallies("d1", shards, group_by)))
    return parsed


def test_a_request_counts_on_its_local_day() -> None:
    assert day_of(T0, ZoneInfo("Asia/Shanghai")) == "2026-11-03"  # 20:00 UTC is 04:00 the next day there
    assert day_of(T0, ZoneInfo("UTC")) == "2026-11-02"


def test_contribution_follows_the_timeline_and_the_rating() -> None:
    resolved = request(
        "r1",
        status="rated",
        rating={"stars": 5},
        resolve_due_at=T0 + timedelta(hours=2),
        timeline=[
            {"type": "request.assigned", "time": (T0 + timedelta(minutes=3)).isoformat()},
            {"type": "request.resolved", "time": (T0 + timedelta(minutes=95)).isoformat()},
        ],
    )

    part = contribution(resolved)

    assert part is not None
    assert dict(zip(rates.COUNTERS, part.counters, strict=True)) == {
        "received": 1, "responded": 1, "resolved": 1, "rated": 1, "satisfied": 1, "resolved_on_time": 1, "redone": 0,
    }  # fmt: skip
    assert (part.assign_bucket, part.resolve_bucket) == (3, 95)
    assert contribution(request("r2", status="cancelled")) is None


@pytest.mark.parametrize(
    ("minutes", "bucket"), [(0.2, 0), (12.4, 12), (59.4, 59), (61, 60), (63, 65), (700, 690), (3000, 3060)]
)
def test_durations_are_bucketed_coarser_as_they_grow(minutes: float, bucket: int) -> None:
    assert minute_bucket(minutes) == bucket


def test_a_replayed_contribution_replaces_itself() -> None:
    shard = LedgerShard("d1", "2026-11-02", 0)
    part = contribution(request("r1"))

    assert shard.put("r1", part) is True
    assert shard.put("r1", part) is False  # the same batch again: nothing to write
    (community,) = day_groups([shard], "community")
    assert community["received"] == 1 and community["assign_minutes"] == {"12": 1}


def test_a_request_that_changes_moves_its_counts() -> None:
    shard = LedgerShard("d1", "2026-11-02", 0)
    shard.put("r1", contribution(request("r1", assigned_after=None, status="offered")))
    shard.put("r1", contribution(request("r1", assigned_after=7)))
    shard.put("r2", contribution(request("r2", assigned_after=9)))
    shard.put("r2", contribution(request("r2", status="cancelled")))

    (district,) = day_groups([shard], "district")

    assert (district["received"], district["responded"], district["assign_minutes"]) == (1, 1, {"7": 1})


def test_a_day_sums_every_shard_per_grouping() -> None:
    shards = [LedgerShard("d1", "2026-11-02", n) for n in range(rates.LEDGER_SHARDS)]
    for n in range(40):
        document = request(f"r{n}", grid_id=f"g{n % 2}", menu_item_code="errand.medicine" if n % 4 else "repair")
        shards[rates.shard_of(document["_id"])].put(document["_id"], contribution(document))

    assert [(g["group"], g["received"]) for g in day_groups(shards, "district")] == [("d1", 40)]
    assert [(g["group"], g["received"]) for g in day_groups(shards, "grid")] == [("g0", 20), ("g1", 20)]
    assert [(g["group"], g["received"]) for g in day_groups(shards, "menu_item")] == [
        ("errand.medicine", 30), ("repair", 10),
    ]  # fmt: skip


def test_a_shard_survives_its_stored_form() -> None:
    shard = LedgerShard("d1", "2026-11-02", 3)
    shard.put("r1", contribution(request("r1")))

    again = LedgerShard.of_document("d1", "2026-11-02", 3, shard.document(epoch=2))

    assert again.entries == shard.entries


def test_the_maintainer_writes_the_same_documents_for_a_redelivered_batch() -> None:
    from services.dispatch.read_models.maintainer import ReadModelMaintainer
    from tests.unit.dispatch.read_models.districts import district_of

    stored: dict[tuple[str, str], dict[str, Any]] = {}

    async def read(collection: str, document_id: str) -> dict[str, Any] | None:
        return stored.get((collection, document_id))

    async def run() -> tuple[list[Any], list[Any]]:
        district = district_of("d1")
        maintainer = ReadModelMaintainer(read)
        maintainer.restored(district, [], T0, 1)
        batch = [request("r1"), request("r2", assigned_after=None, status="offered", live_district_id="d1")]
        first = await maintainer.changed({"d1": district}, batch, [], T0, 1)
        for write in first:
            stored[(write.collection, write.document["_id"])] = write.document
        # A restart: a new maintainer restores from what was written, and the batch comes again.
        again = ReadModelMaintainer(read)
        again.restored(district, [], T0, 2)
        second = await again.changed({"d1": district}, batch, [], T0, 2)
        return first, second

    first, second = asyncio.run(run())
    monthly = [w.document for w in first if w.collection == rates.MONTHLY_COLLECTION]
    district_month = next(d for d in monthly if d["group_by"] == "district")
    assert district_month["_id"] == "d1:2026-11:district"
    assert json.loads(district_month["days.d02"])[0]["received"] == 2
    assert json.loads(district_month["total"])[0]["received"] == 2
    # Redelivered: the ledger already holds both requests, so nothing of the rates is written again.
    assert [w.collection for w in second] == ["district_boards"]


def test_a_months_total_moves_by_the_difference_when_a_day_changes() -> None:
    shard = LedgerShard("d1", "2026-11-02", 0)
    shard.put("r1", contribution(request("r1")))
    month = MonthTallies("d1", "2026-11", "district")
    month.put_day("2026-11-02", rates.day_tallies("d1", [shard], "district"))
    month.put_day("2026-11-02", rates.day_tallies("d1", [shard], "district"))  # replayed: the same again
    other = LedgerShard("d1", "2026-11-09", 0)
    other.put("r2", contribution(request("r2")))
    other.put("r3", contribution(request("r3", assigned_after=None, status="offered")))
    month.put_day("2026-11-09", rates.day_tallies("d1", [other], "district"))
    shard.put("r1", contribution(request("r1", status="cancelled")))
    month.put_day("2026-11-02", rates.day_tallies("d1", [shard], "district"))

    update = month.update("2026-11-02", epoch=4)
    (total,) = json.loads(update["total"])

    assert (total["received"], total["responded"]) == (2, 1)
    assert update["days.d02"] == "[]" and update["_id"] == "d1:2026-11:district"
    again = MonthTallies.of_document("d1", "2026-11", "district", month.document(4))
    assert again.total.keys() == month.total.keys() and again.days.keys() == month.days.keys()


def test_a_crash_between_the_months_and_the_ledgers_is_repaired_by_the_redelivery() -> None:
    from services.dispatch.read_models.maintainer import ReadModelMaintainer
    from tests.unit.dispatch.read_models.districts import district_of

    stored: dict[tuple[str, str], dict[str, Any]] = {}

    async def read(collection: str, document_id: str) -> dict[str, Any] | None:
        return stored.get((collection, document_id))

    def keep(writes: list[Any], collection: str) -> None:
        for write in writes:
            if write.collection == collection:  # `$set` of dotted fields, as the database applies it
                document = stored.setdefault((collection, write.document["_id"]), {"days": {}})
                for name, value in write.document.items():
                    if name.startswith("days."):
                        document["days"][name[5:]] = value
                    else:
                        document[name] = value

    async def run() -> tuple[list[Any], list[Any]]:
        district = district_of("d1")
        batch = [request("r1"), request("r2", assigned_after=30)]
        first_owner = ReadModelMaintainer(read)
        first_owner.restored(district, [], T0, 1)
        first = await first_owner.changed({"d1": district}, batch, [], T0, 1)
        keep(first, rates.MONTHLY_COLLECTION)  # ...and the process dies before the ledgers are written
        second_owner = ReadModelMaintainer(read)
        second_owner.restored(district, [], T0, 2)
        return first, await second_owner.changed({"d1": district}, batch, [], T0, 2)

    first, second = asyncio.run(run())
    order = [w.collection for w in first]
    assert order.index(rates.MONTHLY_COLLECTION) < order.index(rates.LEDGER_COLLECTION)
    again = {w.document["_id"]: w.document for w in second if w.collection == rates.MONTHLY_COLLECTION}
    before = {w.document["_id"]: w.document for w in first if w.collection == rates.MONTHLY_COLLECTION}
    assert again.keys() == before.keys()
    for monthly_id, document in again.items():
        assert json.loads(document["total"]) == json.loads(before[monthly_id]["total"])  # counted once, not twice
