"""Quiet hours in the recipient's district's local time; windows may cross midnight."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo


def parse_clock(value: str) -> time:
    hours, _, minutes = value.partition(":")
    return time(int(hours), int(minutes))


def in_quiet_hours(now: datetime, *, timezone: str, start: str, end: str) -> bool:
    """True when `now` (aware) falls in [start, end) local time; start == end means no quiet hours."""
    begin, finish = parse_clock(start), parse_clock(end)
    if begin == finish:
        return False
    local = now.astimezone(ZoneInfo(timezone)).time().replace(tzinfo=None)
    if begin < finish:
        return begin <= local < finish
    return local >= begin or local < finish
