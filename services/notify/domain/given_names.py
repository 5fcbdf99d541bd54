"""A volunteer's given name, which residents are told (the surname and the full name stay private)."""

from __future__ import annotations

import unicodedata
from typing import Final

# Two-character surnames (复姓) that a name may start with; any other Chinese name's surname is one character.
COMPOUND_SURNAMES: Final = frozenset(
    {
        "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
        "宇文", "司徒", "司空", "夏侯", "轩辕", "令狐", "独孤", "端木", "南宫", "西门",
    }
)  # fmt: skip


def _is_han(character: str) -> bool:
    return "CJK UNIFIED IDEOGRAPH" in unicodedata.name(character, "")


def given_name(full_name: str | None) -> str | None:
    """'李建国' -> '建国', '欧阳娜娜' -> '娜娜', 'Wei Zhang' -> 'Wei'; None when nothing is left to say."""
    name = (full_name or "").strip()
    if not name:
        return None
    if all(_is_han(c) for c in name):
        surname = 2 if name[:2] in COMPOUND_SURNAMES and len(name) > 2 else 1
        # A one-character name is all there is: say it rather than nothing.
        return name[surname:] or name
    first = name.split()[0]
    return first if any(c.isalpha() for c in first) else None
