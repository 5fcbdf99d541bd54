"""Request ids that prove where they came from.

Intake answers 202 before dispatch has written anything, so a status URL can be read before the
request document exists. The id carries an HMAC tag over the district and its random part: intake
can then answer `submitted` for an id it issued and 404 for anything else, without a database write
on the hot path. The same tag makes an Idempotency-Key map to one id, deterministically.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

_BODY_BYTES = 10
_TAG_BYTES = 6
ID_LENGTH = 2 * (_BODY_BYTES + _TAG_BYTES)
# One key, or the current key then those of before a rotation (GRID_ID_SIGNING_KEYS_PREVIOUS): checks accept any.
VerificationKeys = bytes | Sequence[bytes]


def _keys(keys: VerificationKeys) -> Sequence[bytes]:
    return (keys,) if isinstance(keys, bytes) else keys


def _tag(key: bytes, district_id: str, body: bytes) -> bytes:
    return hmac.new(key, district_id.encode() + b"|" + body, hashlib.sha256).digest()[:_TAG_BYTES]


def mint_request_id(key: bytes, district_id: str, idempotency_key: str | None = None) -> str:
    """A new id, or the one id that this district's idempotency key always maps to."""
    if idempotency_key is None:
        body = secrets.token_bytes(_BODY_BYTES)
    else:
        seed = district_id.encode() + b"|idempotency|" + idempotency_key.encode()
        body = hmac.new(key, seed, hashlib.sha256).digest()[:_BODY_BYTES]
    return (body + _tag(key, district_id, body)).hex()


def issued_by_us(keys: VerificationKeys, district_id: str, request_id: str) -> bool:
    """True when `request_id` was minted with one of `keys` for `district_id`."""
    if len(request_id) != ID_LENGTH:
        return False
    try:
        raw = bytes.fromhex(request_id)
    except ValueError:
        return False
    body, tag = raw[:_BODY_BYTES], raw[_BODY_BYTES:]
    # Every key is tried (no early exit), so timing does not tell which key, if any, matched.
    matches = [hmac.compare_digest(tag, _tag(key, district_id, body)) for key in _keys(keys)]
    return any(matches)


def access_token(key: bytes, request_id: str) -> str:
    """The resident's read token for one request: derived, so nothing is stored and any replica can check it."""
    return hmac.new(key, b"access|" + request_id.encode(), hashlib.sha256).hexdigest()[:32]


def valid_access_token(keys: VerificationKeys, request_id: str, token: str) -> bool:
    """Constant-time check of a resident's token against the current key and those of before a rotation."""
    presented = token.encode("utf-8", "replace")
    matches = [hmac.compare_digest(access_token(key, request_id).encode(), presented) for key in _keys(keys)]
    return any(matches)
