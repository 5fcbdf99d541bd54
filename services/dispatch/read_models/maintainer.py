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
MONTHS_CACHED: Final = 3 * len(rates.GROUPINGS)


@dataclass
class _DistrictModels:
    board: BoardState
    days: OrderedDict[str, list[rates.LedgerShard]] = field(default_factory=OrderedDict)
    months: OrderedDict[tuple[str, rates.GroupBy], rates.MonthTallies] = field(default_factory=OrderedDict)


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
            writes += await self._rates(district, models, changed, epoch)
            writes.append(self._board(district, models, now, epoch))
        return writes

    def _board(self, district: District, models: _DistrictModels, now: datetime, epoch: int) -> ReadModelWrite:
        return ReadModelWrite(BOARD_COLLECTION, models.board.document(now, epoch))

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
        # The months before the ledgers (the store writes collections in the order they first appear here): a
        # month's day is a function of the day's whole ledger, so it may run ahead of the stored ledger but
        # never behind it. A crash between the two redelivers the batch; the ledger, still without those
        # contributions, changes again and the day is set again. In the other order the ledger would already
        # hold them, nothing would change on redelivery, and the month would keep the old day.
        months: list[ReadModelWrite] = []
        ledgers: list[ReadModelWrite] = []
        for day, numbers in sorted(changed_shards.items()):
            shards = models.days[day]
            ledgers += [ReadModelWrite(rates.LEDGER_COLLECTION, shards[n].document(epoch)) for n in sorted(numbers)]
            for group_by in rates.GROUPINGS:
                month = await self._month(district.district_id, models, rates.month_of(day), group_by)
                month.put_day(day, rates.day_tallies(district.district_id, shards, group_by))
                months.append(ReadModelWrite(rates.MONTHLY_COLLECTION, month.update(day, epoch), partial=True))
        return months + ledgers

    async def _month(
        self, district_id: str, models: _DistrictModels, month: str, group_by: rates.GroupBy
    ) -> rates.MonthTallies:
        key = (month, group_by)
        tallies = models.months.get(key)
        if tallies is None:
            stored = await self._read(rates.MONTHLY_COLLECTION, rates.monthly_id(district_id, month, group_by))
            tallies = rates.MonthTallies.of_document(district_id, month, group_by, stored)
            models.months[key] = tallies
            while len(models.months) > MONTHS_CACHED:
                models.months.popitem(last=False)
        models.months.move_to_end(key)
        return tallies

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
