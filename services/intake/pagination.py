"""Opaque cursors for keyset pagination over (submitted_at, _id), newest first."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from shared.mongo import Document
from shared.time_bounds import OutOfRange, within_bounds


class InvalidCursor(ValueError):
    pass


def encode_cursor(submitted_at: datetime, request_id: str) -> str:
    raw = json.dumps([submitted_at.isoformat(), request_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when, request_id = json.loads(raw)
        parsed = datetime.fromisoformat(when)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidCursor("the cursor is not one this API returned") from exc
    if not isinstance(request_id, str) or parsed.tzinfo is None:
        raise InvalidCursor("the cursor is not one this API returned")
    try:
        within_bounds(parsed)  # a forged cursor must not overflow the query
    except OutOfRange as exc:
        raise InvalidCursor("the cursor is not one this API returned") from exc
    return parsed, request_id


def after_cursor(cursor: str) -> Document:
    """The filter for everything after the cursor in (submitted_at desc, _id desc) order."""
    submitted_at, request_id = decode_cursor(cursor)
    return {
        "$or": [
            {"submitted_at": {"$lt": submitted_at}},
            {"submitted_at": submitted_at, "_id": {"$lt": request_id}},
        ]
    }
