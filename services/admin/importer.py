"""`gridctl import` / `export`: rows in, per-row verdicts out; the same checks and announcements as the admin API."""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml
from pydantic import ValidationError

from services.admin import rows
from services.intake.reference_models import CODE_PATTERN, MenuItemFields, valid_id
from services.intake.reference_service import KINDS, MENU, IdOfAnotherDistrict, ReferenceProblem, Row, split_row, write
from services.intake.repository import IntakeRepository
from services.intake.roster import BULK_WINDOW, Roster

# One gridctl run reads each parent (a row's grid, community…) once: the run's own writes forget what they
# change, and a run is short, so only another writer's concurrent change could be missed.
BULK_CACHE_SECONDS = 600.0


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, {len(self.errors)} rejected"
        )


def read_rows(kind: str, path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV file (header line) or a YAML file (a list, or a mapping with the kind as key)."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        return [dict(r) for r in csv.DictReader(io.StringIO(text))]
    data = yaml.safe_load(text)
    if isinstance(data, dict):
        data = data.get(kind, data.get(kind.replace("-", "_")))
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ValueError(f"{path}: expected a list of rows (or a mapping with a {kind!r} list)")
    return data


def progress(done: int, total: int, out: TextIO = sys.stderr, label: str = "") -> None:
    width = 30
    filled = width * done // max(total, 1)
    out.write(f"\r{label}[{'#' * filled}{'-' * (width - filled)}] {done}/{total}")
    if done == total:
        out.write("\n")
    out.flush()


def _describe(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in error['loc']) or 'row'}: {error['msg']}" for error in exc.errors())


def _name(kind: str, values: dict[str, Any]) -> str:
    """What names a row in a report, besides its number: its id, or a menu item's community and code."""
    if kind == MENU:
        return f" ({values.get('community_id') or ''}:{values.get('code') or ''})"
    return f" ({values['id']})" if valid_id(values.get("id")) else ""


def _row(kind: str, values: dict[str, Any]) -> Row:
    """A row to write, from a record's values: the checks that need no database."""
    if kind == MENU:
        community_id = str(values.pop("community_id", "") or "")
        code = str(values.pop("code", "") or "")
        if not community_id:
            raise ReferenceProblem("community_id", "missing")
        if not code or not _matches(CODE_PATTERN, code):
            raise ReferenceProblem("code", "missing or not a valid code (a-z, 0-9, . _ -)")
        return Row(MenuItemFields.model_validate(values), community_id=community_id, code=code)
    document_id, rest = split_row(values)
    return Row(KINDS[kind].fields.model_validate(rest), document_id=document_id)


def _refusal(problem: ReferenceProblem) -> str:
    if isinstance(problem, IdOfAnotherDistrict):
        # gridctl is run by the platform's operators, who may know which district holds the id.
        holder = f"district {problem.owner!r}" if problem.owner else "another district"
        return f"{problem.field}: {problem.document_id!r} belongs to {holder}; choose another id"
    return str(problem)


async def import_rows(
    repo: IntakeRepository,
    *,
    district_id: str,
    kind: str,
    records: list[dict[str, Any]],
    from_csv: bool,
    roster: Roster | None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import every good row; list each bad row with its reason. Re-running changes nothing in the database.

    Rows are written `BULK_WINDOW` at a time. Volunteers are announced on `roster` (flushed at the end);
    re-running announces every good row again, which completes an import cut off before its announcements.
    """
    report = ImportReport()
    errors: list[tuple[int, str]] = []
    window: list[tuple[int, str, Row]] = []

    async def write_window() -> None:
        outcomes = await write(repo, kind=kind, district_id=district_id, rows=[r for *_, r in window], roster=roster)
        for (number, label, _), outcome in zip(window, outcomes, strict=True):
            if isinstance(outcome, ReferenceProblem):
                errors.append((number, f"{label}: {_refusal(outcome)}"))
            elif outcome.created:
                report.created += 1
            elif outcome.changed:
                report.updated += 1
            else:
                report.unchanged += 1
        window.clear()

    for number, record in enumerate(records, start=1):
        label = f"row {number + 1 if from_csv else number}"  # CSV row numbers count the header line
        try:
            values = rows.from_csv(kind, record) if from_csv else dict(record)
            label += _name(kind, values)
            row = _row(kind, values)
        except ValidationError as exc:
            errors.append((number, f"{label}: {_describe(exc)}"))
        except (ReferenceProblem, rows.RowError) as exc:
            errors.append((number, f"{label}: {exc}"))
        else:
            window.append((number, label, row))
        if len(window) >= BULK_WINDOW or number == len(records):
            if window:
                await write_window()
            if on_progress is not None:
                on_progress(number, len(records))
    if roster is not None:
        await roster.flush()
    report.errors = [message for _, message in sorted(errors)]
    return report


def _matches(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value) is not None


async def export_rows(repo: IntakeRepository, *, district_id: str, kind: str) -> list[dict[str, Any]]:
    if kind == MENU:
        documents = await repo.menu(district_id, active_only=False)
    else:
        documents = await repo.references(KINDS[kind].collection, district_id, after=None, limit=1_000_000)
    return [rows.to_row(kind, d) for d in documents]


def write_rows(kind: str, records: list[dict[str, Any]], fmt: str, out: TextIO) -> None:
    if fmt == "yaml":
        yaml.safe_dump({kind: records}, out, allow_unicode=True, sort_keys=False)
        return
    writer = csv.DictWriter(out, fieldnames=rows.csv_columns(kind), extrasaction="ignore")
    writer.writeheader()
    for record in records:
        writer.writerow(rows.to_csv(kind, record))
