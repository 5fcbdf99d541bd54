"""Phone numbers to E.164, mainland China by default; anything else is refused with a reason.

Residents type numbers as they say them (spaces, dashes, a leading 0 or 00, +86 or 86), and every later
lookup (a resident's own requests, SMS) needs one canonical form. Whether a number can exist is
Google's libphonenumber metadata (the `phonenumbers` package): a digit count alone let
`+999999999999999` through.
"""

from __future__ import annotations

import re
from typing import Annotated

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat
from pydantic import AfterValidator, Field

DEFAULT_COUNTRY_CODE = "86"
_SEPARATORS = re.compile(r"[\s\-().·]")


class InvalidPhoneNumber(ValueError):
    """The input is not a phone number we can dial; the message says why, in plain words."""


def normalise(raw: str, default_country_code: str = DEFAULT_COUNTRY_CODE) -> str:
    """Return `raw` as E.164 (`+8613800001234`), or raise InvalidPhoneNumber."""
    text = _SEPARATORS.sub("", raw.strip())
    if not text:
        raise InvalidPhoneNumber("a phone number is required")
    digits = text[1:] if text.startswith("+") else text
    # ASCII only: the library would read full-width and other scripts' digits, which nobody can dial as typed.
    if not digits.isascii() or not digits.isdigit():
        raise InvalidPhoneNumber("a phone number may contain only digits, spaces, dashes and a leading +")
    region = phonenumbers.region_code_for_country_code(int(default_country_code))
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise InvalidPhoneNumber("not a phone number: no country uses a number like this") from exc
    if not phonenumbers.is_valid_number(number):
        if number.country_code == 86:
            raise InvalidPhoneNumber(
                "not a mainland China number: expected 11 digits starting with 1 (mobile) "
                "or an area code and 7–8 digits (landline)"
            )
        raise InvalidPhoneNumber(f"not a valid number for country code +{number.country_code}")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def mask(e164: str) -> str:
    """Enough to recognise one's own number, not enough to call it: `+86138****1234`."""
    if len(e164) <= 8:
        return "*" * len(e164)
    return e164[:-8] + "****" + e164[-4:]


def _e164(value: str) -> str:
    try:
        return normalise(value)
    except InvalidPhoneNumber as exc:
        raise ValueError(str(exc)) from exc


# A phone in a request body, as people write it, stored as E.164 (a 422 naming the field otherwise).
PhoneNumber = Annotated[
    str,
    Field(
        min_length=3,
        max_length=32,
        description="Any common way of writing it; normalised to E.164, mainland China (+86) by default",
        examples=["13800001234", "+86 138 0000 1234"],
    ),
    AfterValidator(_e164),
]
