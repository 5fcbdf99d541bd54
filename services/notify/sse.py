"""Server-Sent Event framing of a bare envelope (kept for tools that frame events outside a stream)."""

from __future__ import annotations

import json

from services.notify.domain.resume import parse_cursor
from shared.contracts import EventEnvelope


def parse_last_event_id(value: str | None) -> int:
    """Ids look like '<prefix>:<position>' or '<position>'; anything else means 'from the start'."""
    return parse_cursor(value, None) or 0


def frame(envelope: EventEnvelope) -> str:
    body = json.dumps(envelope.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))
    return f"id: {envelope.id}\nevent: {envelope.type}\ndata: {body}\n\n"
