"""Free text from the outside world without control characters, bidi overrides or terminal escapes.

Names, notes and reasons end up on operators' screens, in SMS, CSV files and log lines. A NUL, an ANSI
escape (`ESC [ … m`) or a right-to-left override (U+202E, which makes `cod.exe` read `exe.doc`) in them
is never meant: such input is refused with 422 naming the field, rather than stored as given.

`SingleLineText` for names, codes and short labels; `MultiLineText` also lets through line breaks and tabs,
for what residents and volunteers say. Both refuse lone surrogates (which cannot be stored as UTF-8).
Use them in every request model that takes free text (pydantic `Annotated` types, composable with `Field`).
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator

# Bidirectional embeddings, overrides and isolates (and the Arabic letter mark): they reorder what follows.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c")
LINE_BREAKS = frozenset("\n\r\t")
# Control (Cc), surrogate (Cs), line and paragraph separators (Zl, Zp); format (Cf) only the bidi ones, since
# zero-width joiners are part of ordinary writing (emoji sequences, Indic scripts).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def offending(text: str, *, allow_line_breaks: bool) -> str | None:
    """The first character that must not appear, or None."""
    for char in text:
        if allow_line_breaks and char in LINE_BREAKS:
            continue
        if char in BIDI_CONTROLS or unicodedata.category(char) in _REFUSED_CATEGORIES:
            return char
    return None


def _check(text: str, *, allow_line_breaks: bool) -> str:
    char = offending(text, allow_line_breaks=allow_line_breaks)
    if char is not None:
        kind = "a bidirectional control" if char in BIDI_CONTROLS else "a control character"
        raise ValueError(f"contains {kind} (U+{ord(char):04X}); send plain text")
    return text


def single_line(text: str) -> str:
    return _check(text, allow_line_breaks=False)


def multi_line(text: str) -> str:
    return _check(text, allow_line_breaks=True)


SingleLineText = Annotated[str, AfterValidator(single_line)]
MultiLineText = Annotated[str, AfterValidator(multi_line)]
