"""One-time sign-in codes and session tokens: pure, no I/O.

A code is 6 random digits. Only its HMAC is stored (keyed by the platform's signing key and bound to the
phone), so a copy of the database does not give anyone a working code; the code document's `_id` is an
HMAC of the phone too, so the collection does not list volunteers' numbers. A session token is 32 random
bytes given to the browser once; the database keeps its SHA-256 as the session's `_id`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

CODE_DIGITS: Final = 6
SESSION_COOKIE: Final = "gsp_volunteer"


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def phone_key(key: bytes, phone: str) -> str:
    return hmac.new(key, b"volunteer-phone|" + phone.encode(), hashlib.sha256).hexdigest()


def code_hash(key: bytes, phone: str, code: str) -> str:
    return hmac.new(key, b"volunteer-code|" + phone.encode() + b"|" + code.encode(), hashlib.sha256).hexdigest()


def code_matches(key: bytes, phone: str, code: str, stored_hash: str) -> bool:
    return hmac.compare_digest(code_hash(key, phone, code), stored_hash)


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def session_id(token: str) -> str:
    return hashlib.sha256(b"volunteer-session|" + token.encode()).hexdigest()
