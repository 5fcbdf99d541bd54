"""The read models built from stored requests at once: for a database that has requests but no read models
(written before dispatch maintained them), and for benchmarks that preload history.

    .venv/bin/python -m services.dispatch.read_models.backfill DISTRICT_ID

Reads the district's requests once (an equality an index serves) and replaces its ledgers, monthly rates
and board. Run it while the district's owner is stopped: the owner's documents would otherwise race it.
Dispatch runs it once per database at start (a marker in `dispatch_migrations`) in the background, before
its owner consumes: the process answers /healthz meanwhile and /readyz says `read_models: false`, and the
progress is logged (and exported as `dispatch_read_model_backfill_requests`).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from pymongo import ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase

from services.dispatch.read_models import rates
from services.dispatch.read_models.board import BOARD_COLLECTION, BoardState
from services.dispatch.settings import DispatchEngineSettings
from shared.mongo import Document, connect, database

log = logging.getLogger(__name__)
CHUNK = 64  # statements per command (see services.dispatch.store)
PROGRESS_EVERY = 10_000  # requests read between two progress reports
DEFAULT_TIMEZONE = "Asia/Shanghai"


# What the projections need of a stored request; the rest (decisions, resident, text...) is left in the database.
LEFT_OUT = {k: 0 for k in ("decisions", "resident", "outbox", "processed_event_ids", "notes", "text", "attributes",
                           "offer_rounds", "menu_item", "ratings", "timers", "tried_volunteer_ids")}  # fmt: skip


class Backfill:
    """The district's read models accumulated from its request documents, one at a time. Pure."""

    def __init__(self, district_id: str, tz: ZoneInfo) -> None:
        self.district_id = district_id
        self.tz = tz
        self.days: dict[str, list[rates.LedgerShard]] = {}
        self.board = BoardState(district_id)

    def add(self, request: Document) -> None:
        rates.add_to_ledgers(self.days, self.district_id, request, self.tz)
        if request.get("live_district_id"):
            self.board.apply([request])

    def documents(self, now: datetime) -> list[tuple[str, Document]]:
        out: list[tuple[str, Document]] = []
        for _, shards in sorted(self.days.items()):
            out += [(rates.LEDGER_COLLECTION, shard.document(0)) for shard in shards if shard.entries]
        out += [(rates.MONTHLY_COLLECTION, d) for d in rates.monthly_documents(self.district_id, self.days, 0)]
        out.append((BOARD_COLLECTION, self.board.document(now, 0)))
        return out


def documents_for(
    district_id: str, requests: Iterable[Document], tz: ZoneInfo, now: datetime
) -> list[tuple[str, Document]]:
    """(collection, document) pairs of the district's read models, from its request documents. Pure."""
    backfill = Backfill(district_id, tz)
    for request in requests:
        backfill.add(request)
    return backfill.documents(now)


Progress = Callable[[str, int], None]  # (district id, requests read so far in it)


async def rebuild(
    db: AsyncDatabase[Document],
    district_id: str,
    requests: Iterable[Document] | None = None,
    progress: Progress | None = None,
) -> int:
    """Replace the district's read models; returns how many documents were written."""
    district = await db.districts.find_one({"_id": district_id}) or {}
    backfill = Backfill(district_id, ZoneInfo(str(district.get("timezone") or DEFAULT_TIMEZONE)))
    if requests is None:
        read = 0
        async for request in db.requests.find({"district_id": district_id}, LEFT_OUT):
            backfill.add(request)
            read += 1
            if progress is not None and read % PROGRESS_EVERY == 0:
                progress(district_id, read)
    else:
        for request in requests:
            backfill.add(request)
    pairs = backfill.documents(datetime.now(UTC))
    for collection in sorted({c for c, _ in pairs}):
        operations = [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for c, d in pairs if c == collection]
        for start in range(0, len(operations), CHUNK):
            await db[collection].bulk_write(operations[start : start + CHUNK], ordered=False)
    return len(pairs)


async def once(db: AsyncDatabase[Document], progress: Progress | None = None) -> int:
    """At dispatch's start, once per database: every district's read models from the requests stored so far."""
    marker = {"_id": "read-models-v2"}
    if await db.dispatch_migrations.find_one(marker) is not None:
        return 0
    district_ids = [str(d["_id"]) async for d in db.districts.find({}, {"_id": 1})]
    log.info("building the read models of %d districts from their stored requests (once)", len(district_ids))
    written = 0
    for number, district_id in enumerate(district_ids, 1):
        written += await rebuild(db, district_id, progress=progress)
        log.info("read models of district %s built (%d of %d districts)", district_id, number, len(district_ids))
    await db.dispatch_migrations.replace_one(marker, {**marker, "at": datetime.now(UTC)}, upsert=True)
    return written


async def _main(district_ids: list[str]) -> None:
    settings = DispatchEngineSettings()
    client = connect(settings)
    try:
        db = database(client, settings)
        for district_id in district_ids:
            print(district_id, await rebuild(db, district_id), "documents")
    finally:
        await client.close()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1:]))
