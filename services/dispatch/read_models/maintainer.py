"""The owner's hook: after a batch, what read-model documents to write for the request documents it changed.

Kept per district: the board rows (from the restore, then from every written document) and a small cache
of the ledger shards of recently touched days (read by `_id` the first time a day is touched after a
restore). Must be written BEFORE the request documents of the same batch: if the process dies in between,
the batch is redelivered and applied to the requests as they were, and their contributions replace the
ones already written; the other order would lose them (the requests, already written, would not change
again on redelivery).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from services.dispatch.district import District
from services.dispatch.domain.matching import Volunteer
from services.dispatch.read_models import ReadModelWrite, rates
from services.dispatch.read_models.board import BOARD_COLLECTION, BoardState
from shared.mongo import Document

ReadById = Callable[[str, str], Awaitable[Document | None]]
DAYS_CACHED: Final = 8


@dataclass
class _DistrictModels:
    board: BoardState
    days: OrderedDict[str, list[rates.LedgerShard]] = field(default_factory=OrderedDict)


class ReadModelMaintainer:
    def __init__(self, read: ReadById) -> None:
        self._read = read
        self._districts: dict[str, _DistrictModels] = {}

    def restored(
        self, district: District, live_documents: Iterable[Document], now: datetime, epoch: int
    ) -> list[ReadModelWrite]:
        """A district just restored from its live documents: its board, written at once (the previous owner's
        last board may be ahead of or behind what was written to the requests)."""
        models = _DistrictModels(BoardState(district.district_id))
        models.board.apply(live_documents)
        self._districts[district.district_id] = models
        return [self._board(district, models, now, epoch)]

    async def changed(
        self,
        districts: Mapping[str, District],
        documents: Iterable[Document],
        loads: Iterable[Volunteer],
        now: datetime,
        epoch: int,
    ) -> list[ReadModelWrite]:
        by_district: dict[str, list[Document]] = {}
        for document in documents:
            by_district.setdefault(document["district_id"], []).append(document)
        touched = set(by_district) | {v.home.district_id for v in loads}
        writes: list[ReadModelWrite] = []
        for district_id in sorted(touched):
            district = districts.get(district_id)
            models = self._districts.get(district_id)
            if district is None or models is None:
                continue
            changed = by_district.get(district_id, [])
            models.board.apply(changed)
            writes.append(self._board(district, models, now, epoch))
            writes += await self._rates(district, models, changed, epoch)
        return writes

    def _board(self, district: District, models: _DistrictModels, now: datetime, epoch: int) -> ReadModelWrite:
        return ReadModelWrite(BOARD_COLLECTION, models.board.document(district.roster.all(), now, epoch))

    async def _rates(
        self, district: District, models: _DistrictModels, documents: list[Document], epoch: int
    ) -> list[ReadModelWrite]:
        changed_shards: dict[str, set[int]] = {}
        for document in documents:
            submitted = document.get("submitted_at")
            if not isinstance(submitted, datetime):
                continue
            day = rates.day_of(submitted, district.tz)
            shards = await self._day(district.district_id, models, day)
            shard = rates.shard_of(document["_id"])
            if shards[shard].put(document["_id"], rates.contribution(document)):
                changed_shards.setdefault(day, set()).add(shard)
        writes = []
        for day, numbers in sorted(changed_shards.items()):
            shards = models.days[day]
            writes += [ReadModelWrite(rates.LEDGER_COLLECTION, shards[n].document(epoch)) for n in sorted(numbers)]
            writes += [
                ReadModelWrite(rates.DAILY_COLLECTION, d)
                for d in rates.daily_documents(district.district_id, day, shards, epoch)
            ]
        return writes

    async def _day(self, district_id: str, models: _DistrictModels, day: str) -> list[rates.LedgerShard]:
        shards = models.days.get(day)
        if shards is None:
            ids = [rates.ledger_id(district_id, day, n) for n in range(rates.LEDGER_SHARDS)]
            stored = await asyncio.gather(*(self._read(rates.LEDGER_COLLECTION, i) for i in ids))
            shards = [rates.LedgerShard.of_document(district_id, day, n, d) for n, d in enumerate(stored)]
            models.days[day] = shards
            while len(models.days) > DAYS_CACHED:
                models.days.popitem(last=False)
        models.days.move_to_end(day)
        return shards
