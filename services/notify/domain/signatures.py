"""Webhook signatures: HMAC-SHA256 over `<timestamp>.<body>`, so a captured delivery cannot be replayed later."""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "Grid-Webhook-Timestamp"
SIGNATURE_HEADER = "Grid-Webhook-Signature"
EVENT_ID_HEADER = "Grid-Webhook-Event-Id"
DELIVERY_ID_HEADER = "Grid-Webhook-Delivery-Id"
EVENT_TYPE_HEADER = "Grid-Webhook-Event-Type"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def verify(
    secret: str, *, timestamp: str, body: bytes, signature: str, now: int, tolerance: int = DEFAULT_TOLERANCE_SECONDS
) -> bool:
    """What a receiver does: recompute, compare in constant time, refuse stale timestamps."""
    if not (timestamp.isascii() and timestamp.isdigit()) or abs(now - int(timestamp)) > tolerance:
        return False
    # As bytes: compare_digest refuses non-ASCII str, and a forged header must be a False, not an error.
    return hmac.compare_digest(sign(secret, int(timestamp), body).encode(), signature.encode("utf-8", "replace"))
