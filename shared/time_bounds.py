"""Datetimes from the outside world, bounded to years where arithmetic and the database cannot overflow.

`0001-01-01T00:00:00+14:00` is a valid ISO 8601 instant that Python cannot convert to UTC, and one
`- timedelta(days=30)` away from year 1 is an OverflowError; BSON cannot hold it either. Every query
parameter, body field or cursor that carries a time uses these types, so such input is a 422 naming the
field instead of a 500 somewhere later.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class OutOfRange(ValueError):
    pass


def within_bounds(value: datetime) -> datetime:
    """`value` unchanged when, read as UTC (naive means UTC), it lies in [EARLIEST, LATEST]; else OutOfRange."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    try:
        instant = aware.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise OutOfRange(f"{value.isoformat()} is out of range: {exc}") from exc
    if not EARLIEST <= instant <= LATEST:
        raise OutOfRange(f"times must lie between {EARLIEST.date()} and {LATEST.date()}")
    return value


BoundedDatetime = Annotated[datetime, AfterValidator(within_bounds)]
BoundedAwareDatetime = Annotated[AwareDatetime, AfterValidator(within_bounds)]
