"""Read models dispatch maintains for the console and the public API (DESIGN.md principle 6).

- `board`: a district's live board (queue by status and level, load per grid and volunteer, overdue list),
  recomputed from the owner's memory and replaced by `_id`;
- `rates`: per-day ledgers of each request's contribution, and the monthly documents (each day's tallies
  and the month's total) derived from them;
- `maintainer`: the owner's one hook: what to write for a batch's changed documents;
- `backfill`: the same documents built from stored requests at once (an existing database, benchmarks).

Pure projections; the only I/O is the maintainer's read of a day's ledger by `_id`, injected.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.mongo import Document


@dataclass(frozen=True)
class ReadModelWrite:
    """One document to replace by `_id` in one collection, in the owner's batch (fenced by its epoch); with
    `partial`, only its fields are `$set` (dotted paths allowed), the rest of the stored document kept."""

    collection: str
    document: Document
    partial: bool = False
