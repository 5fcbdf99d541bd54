"""Twilio's request signature (X-Twilio-Signature), as its security documentation specifies.

Twilio signs every webhook it calls with the account's Auth Token: HMAC-SHA1 over the full URL it called
(scheme, host, path and query) followed by each POST parameter's name and value, sorted by name, with no
separators; the header carries the digest in base64. Pure, so intake's inbound webhook and the tests'
stand-in provider share the one definition.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

SIGNATURE_HEADER = "X-Twilio-Signature"


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """base64(HMAC-SHA1(auth_token, url + name1 + value1 + name2 + value2 ...)), parameters sorted by name."""
    signed = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_valid(auth_token: str, url: str, params: Iterable[tuple[str, str]], signature: str | None) -> bool:
    """Constant-time comparison; a missing header or an empty token never validates."""
    if not signature or not auth_token:
        return False
    return hmac.compare_digest(twilio_signature(auth_token, url, params), signature)
