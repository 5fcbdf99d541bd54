"""Resume pointers: every stored event has a position, dense and increasing per district."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

# Positions are database integers (BSON int64). ASCII digits only: `"²".isdigit()` is True, `int("²")` fails.
MAX_POSITION = 2**62
_POSITION = re.compile(r"[0-9]{1,18}")


def parse_cursor(last_event_id: str | None, after: int | None) -> int | None:
    """The position to resume after: `after` wins over `Last-Event-ID`; None means a fresh client."""
    if after is not None:
        return after if 0 <= after <= MAX_POSITION else None
    if not last_event_id:
        return None
    _, _, tail = last_event_id.strip().rpartition(":")
    return int(tail) if _POSITION.fullmatch(tail) else None


def position_of(text: str) -> int | None:
    """A position written by a client (ASCII digits, within int64), or None."""
    return int(text) if _POSITION.fullmatch(text) else None


class ResumeDecision(StrEnum):
    FRESH = "fresh"  # no cursor: replay the history we have, then live
    RESUME = "resume"  # replay exactly what came after the cursor
    RESET = "reset"  # history no longer reaches back (or the cursor is unknown): reload state


@dataclass(frozen=True)
class ResumePlan:
    decision: ResumeDecision
    after: int  # replay history with position > after


def plan_resume(cursor: int | None, *, floor: int, head: int) -> ResumePlan:
    """`floor`: highest position already expired from history; `head`: highest position settled so far."""
    if cursor is None:
        return ResumePlan(ResumeDecision.FRESH, floor)
    if cursor < floor or cursor > head:
        return ResumePlan(ResumeDecision.RESET, head)
    return ResumePlan(ResumeDecision.RESUME, cursor)
