"""Import and export rows: CSV cells and YAML values ↔ the reference models' fields. Pure, no I/O.

CSV conventions: lists are `;`-separated (`errand;repair`); availability is `0 08:00-18:00;5 09:00-12:00`
(weekday, Monday=0); leave is `2026-12-01..2026-12-03;2027-01-05..2027-01-05` (first and last day); a
volunteer's location is `lat` and `lon` columns; a household's proxy contact is `proxy_kind`, `proxy_name`
and `proxy_phone` columns; a menu item's `attributes` and `deadlines`,
and a care plan's `schedule` and `alert`, are JSON. Empty cells mean "not given".
"""

from __future__ import annotations

import json
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from services.intake.reference_models import MenuItemFields
from services.intake.reference_service import KINDS, MENU
from shared.spreadsheet_cells import neutralise, restore

IMPORTABLE = (*KINDS, MENU)
JSON_FIELDS = {"attributes", "deadlines", "schedule", "alert"}
PROXY_COLUMNS = {"proxy_kind": "kind", "proxy_name": "name", "proxy_phone": "phone"}
# Stored fields that are derived or owned by dispatch: never exported, never imported.
NOT_EXPORTED = {"_id", "district_id", "street_office_id_derived", "open_assignments", "last_assigned_at"}


class RowError(ValueError):
    pass


def fields_model(kind: str) -> type[BaseModel]:
    return MenuItemFields if kind == MENU else KINDS[kind].fields


def key_columns(kind: str) -> tuple[str, ...]:
    return ("community_id", "code") if kind == MENU else ("id",)


def _is_list(model: type[BaseModel], name: str) -> bool:
    annotation = model.model_fields[name].annotation
    return typing.get_origin(annotation) is list


def _availability(cell: str) -> list[dict[str, Any]]:
    windows = []
    for part in filter(None, (p.strip() for p in cell.split(";"))):
        try:
            weekday, span = part.split()
            start, end = span.split("-")
            windows.append({"weekday": int(weekday), "start": start, "end": end})
        except ValueError as exc:
            raise RowError(f"availability: {part!r} is not like '0 08:00-18:00'") from exc
    return windows


def _leave(cell: str) -> list[dict[str, Any]]:
    periods = []
    for part in filter(None, (p.strip() for p in cell.split(";"))):
        start, separator, end = part.partition("..")
        if not separator:
            raise RowError(f"leave: {part!r} is not like '2026-12-01..2026-12-03'")
        periods.append({"start": start.strip(), "end": end.strip()})
    return periods


def from_csv(kind: str, row: Mapping[Any, Any]) -> dict[str, Any]:
    """A CSV row as the values a YAML row would have."""
    model = fields_model(kind)
    values: dict[str, Any] = {}
    for column, raw in row.items():
        if column is None:
            raise RowError("more cells than columns")
        cell = restore(str(raw or "").strip())
        if not cell:
            continue
        if column in ("lat", "lon"):
            values.setdefault("location", {})[column] = cell
        elif column in PROXY_COLUMNS:
            values.setdefault("proxy", {})[PROXY_COLUMNS[column]] = cell
        elif column == "availability":
            values[column] = _availability(cell)
        elif column == "leave":
            values[column] = _leave(cell)
        elif column in JSON_FIELDS:
            try:
                values[column] = json.loads(cell)
            except json.JSONDecodeError as exc:
                raise RowError(f"{column}: not valid JSON ({exc.msg})") from exc
        elif column in model.model_fields and _is_list(model, column):
            values[column] = [part.strip() for part in cell.split(";") if part.strip()]
        else:
            values[column] = cell
    return values


def to_row(kind: str, document: dict[str, Any]) -> dict[str, Any]:
    """A stored document as an import row (YAML values); the inverse of importing it."""
    model = fields_model(kind)
    row: dict[str, Any] = {}
    if kind == MENU:
        row["community_id"], row["code"] = document["community_id"], document["code"]
    else:
        row["id"] = document["_id"]
    for name in model.model_fields:
        if name in document and document[name] is not None:
            row[name] = document[name]
    return row


def to_csv(kind: str, row: dict[str, Any]) -> dict[str, str]:
    cells: dict[str, str] = {}
    for column, value in row.items():
        if column == "location" and isinstance(value, dict):
            cells["lat"], cells["lon"] = str(value.get("lat", "")), str(value.get("lon", ""))
        elif column == "proxy" and isinstance(value, dict):
            cells.update({name: str(value.get(part, "")) for name, part in PROXY_COLUMNS.items()})
        elif column == "availability":
            cells[column] = ";".join(f"{w['weekday']} {w['start']}-{w['end']}" for w in value)
        elif column == "leave":
            cells[column] = ";".join(f"{str(p['start'])[:10]}..{str(p['end'])[:10]}" for p in value)
        elif column in JSON_FIELDS:
            cells[column] = json.dumps(value, ensure_ascii=False)
        elif isinstance(value, list):
            cells[column] = ";".join(str(v) for v in value)
        elif isinstance(value, bool):
            cells[column] = "true" if value else "false"
        else:
            cells[column] = str(value)
    return {column: neutralise(cell) for column, cell in cells.items()}


def csv_columns(kind: str) -> list[str]:
    columns = list(key_columns(kind))
    for name in fields_model(kind).model_fields:
        if name == "location":
            columns += ["lat", "lon"]
        elif name == "proxy":
            columns += list(PROXY_COLUMNS)
        else:
            columns.append(name)
    return columns
