"""CSV cells that a spreadsheet shows as text, never runs as a formula (CSV/formula injection).

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel, LibreOffice and
Google Sheets (`=HYPERLINK(...)`, `@SUM(...)`); a resident's name or a note can be exactly that. Such a
cell is written with a leading `'` (OWASP's advice), which spreadsheets display as nothing; tools of ours
that read the file back (`gridctl import`) remove it again, so an export imports unchanged.
"""

from __future__ import annotations

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_TRIGGERS) else cell


def restore(cell: str) -> str:
    """The inverse of `neutralise` (a `'` before anything else is the user's own)."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_TRIGGERS) else cell


def neutralise_row(row: dict[str, object]) -> dict[str, object]:
    return {column: neutralise(value) if isinstance(value, str) else value for column, value in row.items()}
