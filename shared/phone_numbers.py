"""Phone numbers to E.164, mainland China by default; anything else is refused with a reason.

Pure and small on purpose: residents type numbers as they say them (spaces, dashes, a leading 0 or
00, +86 or 86), and every later lookup (a resident's own requests, SMS) needs one canonical form.
"""

from __future__ import annotations

import re

DEFAULT_COUNTRY_CODE = "86"
_SEPARATORS = re.compile(r"[\s\-().·]")
_CHINA_MOBILE = re.compile(r"^1[3-9]\d{9}$")
# Landline without the trunk 0: area code 10, 2X (two digits) or three digits, then 7–8 digits.
_CHINA_LANDLINE = re.compile(r"^(10|2\d)\d{8}$|^[3-9]\d{2}\d{7,8}$")


class InvalidPhoneNumber(ValueError):
    """The input is not a phone number we can dial; the message says why, in plain words."""


def _china_national(digits: str) -> str:
    if _CHINA_MOBILE.match(digits):
        return digits
    if digits.startswith("0") and _CHINA_LANDLINE.match(digits[1:]):
        return digits[1:]
    if _CHINA_LANDLINE.match(digits):
        return digits
    raise InvalidPhoneNumber(
        "not a mainland China number: expected 11 digits starting with 1 (mobile) "
        "or an area code and 7–8 digits (landline)"
    )


def normalise(raw: str, default_country_code: str = DEFAULT_COUNTRY_CODE) -> str:
    """Return `raw` as E.164 (`+8613800001234`), or raise InvalidPhoneNumber."""
    text = _SEPARATORS.sub("", raw.strip())
    if not text:
        raise InvalidPhoneNumber("a phone number is required")
    international = False
    if text.startswith("+"):
        international, text = True, text[1:]
    elif text.startswith("00"):
        international, text = True, text[2:]
    if not text.isascii() or not text.isdigit():
        raise InvalidPhoneNumber("a phone number may contain only digits, spaces, dashes and a leading +")
    if not international and default_country_code == "86":
        if len(text) == 13 and text.startswith("86") and _CHINA_MOBILE.match(text[2:]):
            return "+" + text
        return "+86" + _china_national(text)
    if not international:
        text = default_country_code + text.lstrip("0")
    if text.startswith("86"):
        return "+86" + _china_national(text[2:])
    if text.startswith("0") or not 8 <= len(text) <= 15:
        raise InvalidPhoneNumber("an international number has a country code and 8 to 15 digits in all")
    return "+" + text


def mask(e164: str) -> str:
    """Enough to recognise one's own number, not enough to call it: `+86138****1234`."""
    if len(e164) <= 8:
        return "*" * len(e164)
    return e164[:-8] + "****" + e164[-4:]
