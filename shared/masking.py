"""Personal data in logs and payloads: show only what the reader needs."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"\d")
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(\+?\d{7,15})(?!\d)")


def mask_phone(phone: str) -> str:
    """'13800001234' -> '138****1234'; '+8613800001234' -> '+86138****1234'; short numbers keep 2 digits."""
    digits = "".join(_DIGITS.findall(phone))
    prefix = "+" if phone.strip().startswith("+") else ""
    if len(digits) >= 11:
        head, tail = digits[:-8], digits[-4:]
        return f"{prefix}{head}****{tail}"
    if len(digits) >= 5:
        return f"{prefix}{digits[:2]}****{digits[-2:]}"
    return "****"


def mask_phones_in(text: str) -> str:
    """Mask every phone-like run of digits inside free text (messages, error strings)."""
    return _PHONE_IN_TEXT.sub(lambda match: mask_phone(match.group(1)), text)


def mask_address(address: str) -> str:
    """Keep the first few characters (street, compound), hide the rest (building, door)."""
    visible = max(2, len(address) // 3)
    return address[:visible] + "***" if len(address) > visible else "***"
