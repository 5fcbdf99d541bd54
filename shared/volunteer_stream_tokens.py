"""Short-lived tokens that let a signed-in volunteer's page follow notify's volunteer stream.

The phone page has a session cookie for intake, not an API key; notify runs on another origin and never
sees that cookie. Intake mints this token for the session's volunteer (`mint`), notify checks it
(`verify`) with the same signing keys that already sign request ids, so nothing is stored and any
replica of either can mint or check. It names one district and one volunteer and expires (an hour by
default): the page asks for a new one when it reconnects. Domain-separated from every other HMAC.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

PREFIX: Final = "gvs1"


@dataclass(frozen=True)
class StreamGrant:
    district_id: str
    volunteer_id: str
    expires_at: datetime


def _tag(key: bytes, body: str) -> str:
    return hmac.new(key, b"volunteer-stream|" + body.encode(), hashlib.sha256).hexdigest()[:40]


def mint(key: bytes, *, district_id: str, volunteer_id: str, expires_at: datetime) -> str:
    claims = {"d": district_id, "v": volunteer_id, "e": int(expires_at.timestamp())}
    body = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{PREFIX}.{body}.{_tag(key, body)}"


def verify(keys: Sequence[bytes], token: str, now: datetime | None = None) -> StreamGrant | None:
    """The grant of a genuine, unexpired token; None otherwise (constant-time over every key)."""
    prefix, _, rest = token.partition(".")
    body, _, tag = rest.partition(".")
    if prefix != PREFIX or not body or not tag or len(token) > 1000:
        return None
    matches = [hmac.compare_digest(_tag(key, body).encode(), tag.encode("utf-8", "replace")) for key in keys]
    if not any(matches):
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        grant = StreamGrant(str(claims["d"]), str(claims["v"]), datetime.fromtimestamp(int(claims["e"]), UTC))
    except (ValueError, KeyError, TypeError):
        return None
    return grant if grant.expires_at > (now or datetime.now(UTC)) else None
