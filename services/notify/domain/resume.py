"""Stream positions are places in the status log, so every replica gives every client the same ones.

`grid.status.v2` is keyed by district: one district's events all lie in one partition, in offset order. A
position packs that partition and offset into one integer, `(offset + 1) * PARTITION_SLOTS + partition`,
so a client sees plain increasing numbers (within its stream) and a cursor says exactly where in the log
to continue. "After position P" means: from offset `P // PARTITION_SLOTS` of partition `P % PARTITION_SLOTS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

# Positions travel as JSON numbers and database-free integers; keep them within int64 and clients' doubles'
# exact range is not needed (they are compared, not computed with). ASCII digits only: `"²".isdigit()` is
# True, `int("²")` fails.
MAX_POSITION = 2**62
PARTITION_SLOTS = 1024  # the status topic may grow to this many partitions without changing the format
_POSITION = re.compile(r"[0-9]{1,19}")


def position_of(partition: int, offset: int) -> int:
    """The position of the record at `offset` of `partition`."""
    return (offset + 1) * PARTITION_SLOTS + partition


def position_before(partition: int, offset: int) -> int:
    """The position to resume after so that the record at `offset` comes next."""
    return offset * PARTITION_SLOTS + partition


@dataclass(frozen=True)
class LogPlace:
    partition: int
    next_offset: int  # the first offset the holder of the cursor has not seen


def place_of(position: int) -> LogPlace:
    return LogPlace(position % PARTITION_SLOTS, position // PARTITION_SLOTS)


def parse_cursor(last_event_id: str | None, after: int | None) -> int | None:
    """The position to resume after: `after` wins over `Last-Event-ID`; None (or 0) means a fresh client."""
    if after is not None:
        return after if 0 < after <= MAX_POSITION else None
    if not last_event_id:
        return None
    _, _, tail = last_event_id.strip().rpartition(":")
    if not _POSITION.fullmatch(tail):
        return None
    position = int(tail)
    return position if 0 < position <= MAX_POSITION else None


class ResumeDecision(StrEnum):
    FRESH = "fresh"  # no cursor: the recent history held in memory, then live
    RESUME = "resume"  # exactly what came after the cursor, then live
    RESET = "reset"  # beyond the log's retention, another partition, or never issued: reload state


@dataclass(frozen=True)
class ResumePlan:
    decision: ResumeDecision
    from_offset: int  # replay the district's events at offsets >= this (RESET: live from here)
    log_until: int  # ... reading [from_offset, log_until) from Kafka, the rest from memory


@dataclass(frozen=True)
class LogView:
    """What one replica knows of the district's partition when a stream starts."""

    partition: int
    log_start: int  # first offset still in the log (retention moves it)
    memory_start: int  # from here on, memory holds every event of the district
    watermark: int  # first offset not yet read by this replica
    log_end: int | None = None  # the log's end, looked up only for a cursor beyond the watermark


def plan_resume(cursor: int | None, view: LogView) -> ResumePlan:
    memory_from = max(view.memory_start, view.log_start)
    if cursor is None:
        return ResumePlan(ResumeDecision.FRESH, memory_from, memory_from)
    place = place_of(cursor)
    beyond = place.next_offset > view.watermark and (view.log_end is None or place.next_offset > view.log_end)
    if place.partition != view.partition or place.next_offset < view.log_start or beyond:
        return ResumePlan(ResumeDecision.RESET, view.watermark, view.watermark)
    start = place.next_offset
    return ResumePlan(ResumeDecision.RESUME, start, max(start, min(memory_from, view.watermark)))


def needs_log_end(cursor: int | None, watermark: int) -> bool:
    """A cursor ahead of this replica may come from a replica that read further: ask the log where it ends."""
    return cursor is not None and place_of(cursor).next_offset > watermark
