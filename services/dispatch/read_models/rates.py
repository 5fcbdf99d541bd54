"""The rates per day, as dispatch maintains them: what each request contributes, and the monthly documents.

A request counts on the day it was submitted (in the district's time zone), for its district, community,
grid and menu item. Its contribution is a pure function of its document (`contribution`), so the owner can
compute it again after every change and replace it: a request is in a day's **ledger** at most once, by
id. The ledger of a day is kept in `LEDGER_SHARDS` documents (by request id), each holding its requests'
contributions; the **monthly** documents the console reads (one per grouping and month) hold each day's
tallies, the sum of every shard recomputed whenever a shard changes, and the month's total (`MonthTallies`),
so a window of a year is 13 documents and mostly totals. Nothing is ever `$inc`-remented, so a redelivered
batch, applied again, replaces what it replaced before and cannot count twice (docs/data-model.md).

What counts (the same rules the console used to compute from the requests themselves):
- received: every request but cancelled and rejected ones (nobody could have served them);
- responded: a volunteer took it (a `request.assigned` event); resolved: a `request.resolved` event;
- on time: resolved before its resolve deadline (or none was set); redone: resolved, then reopened;
- rated / satisfied: a rating of the current cycle / of 4 or 5 stars;
- minutes from submission to the first assignment and to the first resolution, kept as bounded
  histograms (`minute_bucket`), so that a median over any window comes from the summed documents.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Final, Literal

from services.dispatch.read_models.board import as_text
from shared.mongo import Document

LEDGER_COLLECTION: Final = "rates_ledger"
MONTHLY_COLLECTION: Final = "rates_monthly"
LEDGER_SHARDS: Final = 16
GroupBy = Literal["district", "community", "grid", "menu_item"]
GROUPINGS: Final[tuple[GroupBy, ...]] = ("district", "community", "grid", "menu_item")
NOT_SERVABLE: Final = frozenset({"cancelled", "rejected"})
SATISFIED_STARS: Final = 4
COUNTERS: Final = ("received", "responded", "resolved", "rated", "satisfied", "resolved_on_time", "redone")
# Histogram resolution in minutes by range: exact to the minute for the first hour, coarser after, so a
# day's histogram has at most a few hundred keys whatever its volume, and a median is off by at most half
# a bucket (30 s in the first hour, 15 min up to two days).
_RESOLUTION: Final = ((60, 1), (600, 5), (2880, 30), (20160, 180))
_COARSEST: Final = 1440


def minute_bucket(minutes: float) -> int:
    """The histogram key of a duration: its minutes rounded to the resolution of their range."""
    value = max(minutes, 0.0)
    for below, step in _RESOLUTION:
        if value < below:
            return int(round(value / step) * step)
    return int(round(value / _COARSEST) * _COARSEST)


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def _first_time(timeline: Iterable[Mapping[str, Any]], event_type: str) -> datetime | None:
    times = [_as_datetime(event.get("time")) for event in timeline if event.get("type") == event_type]
    present = [time for time in times if time is not None]
    return min(present) if present else None


def _minutes(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 60


@dataclass(frozen=True)
class Contribution:
    """What one request adds to its day: its groups, seven 0/1 counters and up to two durations."""

    community: str
    grid: str
    item: str
    counters: tuple[int, ...]  # in the order of COUNTERS
    assign_bucket: int | None = None
    resolve_bucket: int | None = None

    def stored(self, request_id: str) -> Document:
        # Short keys: a day's ledger holds one of these per request. The counters as bits (FerretDB v1 stores
        # no array inside an array, and a bit field is smaller anyway).
        flags = sum(value << bit for bit, value in enumerate(self.counters))
        return {"r": request_id, "c": self.community, "g": self.grid, "i": self.item, "f": flags,
                "a": self.assign_bucket, "z": self.resolve_bucket}  # fmt: skip

    @classmethod
    def of_stored(cls, raw: Mapping[str, Any]) -> Contribution:
        flags = int(raw["f"])
        counters = tuple((flags >> bit) & 1 for bit in range(len(COUNTERS)))
        return cls(raw["c"], raw["g"], raw["i"], counters, raw.get("a"), raw.get("z"))


def day_of(submitted: datetime, tz: tzinfo) -> str:
    """The district's local date of a submission, as `YYYY-MM-DD`."""
    aware = submitted if submitted.tzinfo is not None else submitted.replace(tzinfo=tz)
    return aware.astimezone(tz).date().isoformat()


def contribution(request: Mapping[str, Any]) -> Contribution | None:
    """A request document's contribution, or None when it does not count (cancelled, rejected)."""
    submitted = _as_datetime(request.get("submitted_at")) or _as_datetime(request.get("created_at"))
    if submitted is None or request.get("status") in NOT_SERVABLE:
        return None
    timeline = request.get("timeline") or []
    assigned_at = _first_time(timeline, "request.assigned")
    resolved_at = _first_time(timeline, "request.resolved")
    on_time = redone = 0
    if resolved_at is not None:
        deadline = _as_datetime(request.get("resolve_due_at"))
        on_time = int(deadline is None or resolved_at <= deadline)
        redone = int((request.get("redo_count") or 0) > 0 or _first_time(timeline, "request.reopened") is not None)
    stars = (request.get("rating") or {}).get("stars")
    counters = (
        1,
        int(assigned_at is not None),
        int(resolved_at is not None),
        int(stars is not None),
        int(stars is not None and stars >= SATISFIED_STARS),
        on_time,
        redone,
    )
    return Contribution(
        community=str(request.get("community_id") or "unknown"),
        grid=str(request.get("grid_id") or "unknown"),
        item=str(request.get("menu_item_code") or "unknown"),
        counters=counters,
        assign_bucket=minute_bucket(_minutes(submitted, assigned_at)) if assigned_at else None,
        resolve_bucket=minute_bucket(_minutes(submitted, resolved_at)) if resolved_at else None,
    )


def shard_of(request_id: str) -> int:
    return hashlib.blake2s(request_id.encode(), digest_size=2).digest()[0] % LEDGER_SHARDS


def ledger_id(district_id: str, day: str, shard: int) -> str:
    return f"{district_id}:{day}:{shard:02d}"


@dataclass
class Tally:
    """Counters and duration histograms of one group (a community, a grid...) over some requests."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    assign_minutes: dict[int, int] = field(default_factory=dict)
    resolve_minutes: dict[int, int] = field(default_factory=dict)

    def add(self, part: Contribution) -> None:
        for name, value in zip(COUNTERS, part.counters, strict=True):
            self.counts[name] += value
        if part.assign_bucket is not None:
            self.assign_minutes[part.assign_bucket] = self.assign_minutes.get(part.assign_bucket, 0) + 1
        if part.resolve_bucket is not None:
            self.resolve_minutes[part.resolve_bucket] = self.resolve_minutes.get(part.resolve_bucket, 0) + 1

    def merge(self, other: Tally, sign: int = 1) -> None:
        """Add another tally (or, with `sign=-1`, take it away: a day's old tallies leave its month's total)."""
        for name in COUNTERS:
            self.counts[name] += sign * other.counts[name]
        pairs = ((self.assign_minutes, other.assign_minutes), (self.resolve_minutes, other.resolve_minutes))
        for mine, theirs in pairs:
            for bucket, count in theirs.items():
                left = mine.get(bucket, 0) + sign * count
                if left:
                    mine[bucket] = left
                else:
                    mine.pop(bucket, None)

    @property
    def empty(self) -> bool:
        return not any(self.counts.values()) and not self.assign_minutes and not self.resolve_minutes

    def stored(self, group: str) -> Document:
        # Histogram keys are strings (document keys); group ids may hold dots, so groups are a list.
        return {
            "group": group,
            **self.counts,
            "assign_minutes": {str(k): v for k, v in sorted(self.assign_minutes.items())},
            "resolve_minutes": {str(k): v for k, v in sorted(self.resolve_minutes.items())},
        }

    @classmethod
    def of_stored(cls, raw: Mapping[str, Any]) -> Tally:
        return cls(
            counts={name: int(raw.get(name) or 0) for name in COUNTERS},
            assign_minutes={int(k): int(v) for k, v in (raw.get("assign_minutes") or {}).items()},
            resolve_minutes={int(k): int(v) for k, v in (raw.get("resolve_minutes") or {}).items()},
        )


def _group_key(part: Contribution, district_id: str, group_by: GroupBy) -> str:
    match group_by:
        case "district":
            return district_id
        case "community":
            return part.community
        case "grid":
            return part.grid
    return part.item


@dataclass
class LedgerShard:
    """One shard of a district's day: request id → contribution, and the tallies derived from them."""

    district_id: str
    day: str
    shard: int
    entries: dict[str, Contribution] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return ledger_id(self.district_id, self.day, self.shard)

    def put(self, request_id: str, part: Contribution | None) -> bool:
        """Replace the request's contribution; False when it is the same as before (nothing to write)."""
        if self.entries.get(request_id) == part:
            return False
        if part is None:
            del self.entries[request_id]
        else:
            self.entries[request_id] = part
        return True

    def tallies(self, group_by: GroupBy) -> dict[str, Tally]:
        tallies: dict[str, Tally] = {}
        for part in self.entries.values():
            tallies.setdefault(_group_key(part, self.district_id, group_by), Tally()).add(part)
        return tallies

    def document(self, epoch: int) -> Document:
        return {
            "_id": self.id,
            "district_id": self.district_id,
            "day": self.day,
            "shard": self.shard,
            # JSON text (see board.as_text for why); a list, so request ids need no rules as keys.
            "entries": as_text([part.stored(request_id) for request_id, part in sorted(self.entries.items())]),
            "owner_epoch": epoch,
        }

    @classmethod
    def of_document(cls, district_id: str, day: str, shard: int, document: Document | None) -> LedgerShard:
        stored = json.loads((document or {}).get("entries") or "[]")
        entries = {raw["r"]: Contribution.of_stored(raw) for raw in stored}
        return cls(district_id, day, shard, entries)


def day_tallies(district_id: str, shards: Iterable[LedgerShard], group_by: GroupBy) -> dict[str, Tally]:
    """A day's tallies per group: every shard's summed."""
    total: dict[str, Tally] = {}
    for shard in shards:
        for group, tally in shard.tallies(group_by).items():
            total.setdefault(group, Tally()).merge(tally)
    return total


def tallies_text(tallies: Mapping[str, Tally]) -> str:
    # JSON text: [{group, received, ..., assign_minutes: {minutes: count}, resolve_minutes}] (see board.as_text)
    return as_text([tally.stored(group) for group, tally in sorted(tallies.items()) if not tally.empty])


def tallies_of_text(text: str | None) -> dict[str, Tally]:
    return {row["group"]: Tally.of_stored(row) for row in json.loads(text or "[]")}


def month_of(day: str) -> str:
    return day[:7]


def day_field(day: str) -> str:
    """The field of a day in its month's document: `d` and the day of the month (`d05`)."""
    return f"d{day[8:10]}"


@dataclass
class MonthTallies:
    """One grouping's month as stored in `rates_monthly`: each day's tallies, and their total.

    The owner keeps it in memory once read. A day's new tallies replace its old ones, and the total moves by
    the difference; both go into the month's document in one `$set` (one document: written together or not
    at all), so the stored total always matches the stored days, and a replay sets the same values again.
    """

    district_id: str
    month: str
    group_by: GroupBy
    days: dict[str, dict[str, Tally]] = field(default_factory=dict)
    total: dict[str, Tally] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return monthly_id(self.district_id, self.month, self.group_by)

    def put_day(self, day: str, tallies: dict[str, Tally]) -> None:
        for sign, side in ((-1, self.days.get(day_field(day), {})), (1, tallies)):
            for group, tally in side.items():
                self.total.setdefault(group, Tally()).merge(tally, sign)
        self.total = {group: tally for group, tally in self.total.items() if not tally.empty}
        self.days[day_field(day)] = tallies

    def update(self, day: str, epoch: int) -> Document:
        """The fields to `$set` after `put_day(day)`: that day and the total."""
        return {
            "_id": self.id,
            "district_id": self.district_id,
            "month": self.month,
            "group_by": self.group_by,
            f"days.{day_field(day)}": tallies_text(self.days[day_field(day)]),
            "total": tallies_text(self.total),
            "owner_epoch": epoch,
        }

    def document(self, epoch: int) -> Document:
        return {
            "_id": self.id,
            "district_id": self.district_id,
            "month": self.month,
            "group_by": self.group_by,
            "days": {name: tallies_text(tallies) for name, tallies in sorted(self.days.items())},
            "total": tallies_text(self.total),
            "owner_epoch": epoch,
        }

    @classmethod
    def of_document(cls, district_id: str, month: str, group_by: GroupBy, document: Document | None) -> MonthTallies:
        stored = document or {}
        days = {name: tallies_of_text(text) for name, text in (stored.get("days") or {}).items()}
        return cls(district_id, month, group_by, days, tallies_of_text(stored.get("total")))


def monthly_id(district_id: str, month: str, group_by: GroupBy) -> str:
    return f"{district_id}:{month}:{group_by}"


def monthly_documents(district_id: str, days: Mapping[str, list[LedgerShard]], epoch: int) -> list[Document]:
    """Every month's document per grouping from full day ledgers at once (the backfill)."""
    months: dict[tuple[str, GroupBy], MonthTallies] = {}
    for day, shards in sorted(days.items()):
        for group_by in GROUPINGS:
            month = months.setdefault((month_of(day), group_by), MonthTallies(district_id, month_of(day), group_by))
            month.put_day(day, day_tallies(district_id, shards, group_by))
    return [month.document(epoch) for _, month in sorted(months.items())]


def add_to_ledgers(
    days: dict[str, list[LedgerShard]], district_id: str, request: Mapping[str, Any], tz: tzinfo
) -> None:
    """Put one request document into the full ledgers of its day (the backfill; the owner goes by change)."""
    submitted = _as_datetime(request.get("submitted_at")) or _as_datetime(request.get("created_at"))
    if submitted is None:
        return
    day = day_of(submitted, tz)
    shards = days.setdefault(day, [LedgerShard(district_id, day, s) for s in range(LEDGER_SHARDS)])
    shards[shard_of(str(request["_id"]))].put(str(request["_id"]), contribution(request))
