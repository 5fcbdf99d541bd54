"""Documents as the console's JSON: `_id` renamed to what it is, datetimes as ISO 8601."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def jsonable(document: dict[str, Any], id_field: str = "request_id") -> dict[str, Any]:
    return {(id_field if key == "_id" else key): iso(value) for key, value in document.items()}
