"""Load a district's reference data (structure, volunteers, menu) from a YAML document, idempotently.

Every row goes through the same checks, writes and announcements as `gridctl import` and the admin API
(`services.intake.reference_service`): an id that another district holds is refused per row, never moved.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.admin import importer
from services.intake.reference_models import DistrictFields
from services.intake.reference_service import IMPORT_ORDER, MENU
from services.intake.repository import IntakeRepository
from services.intake.roster import Roster
from shared.contracts.envelope import DISTRICT_ID_PATTERN
from shared.mongo import Document

Progress = Callable[[str], Callable[[int, int], None] | None]


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    await db.grids.create_index([("district_id", ASCENDING), ("community_id", ASCENDING)])
    await db.menu_items.create_index(
        [("district_id", ASCENDING), ("community_id", ASCENDING), ("code", ASCENDING)], unique=True
    )
    await db.volunteers.create_index([("district_id", ASCENDING), ("grid_id", ASCENDING)])
    await db.residents.create_index([("district_id", ASCENDING), ("phone", ASCENDING)])
    await db.residents.create_index([("district_id", ASCENDING), ("proxy_phone", ASCENDING)])
    # Dispatch restores a district's care plans by this equality; the console lists them per grid.
    await db.care_plans.create_index([("district_id", ASCENDING), ("grid_id", ASCENDING)])


def rows_of(spec: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The district file as import rows per kind, parents first; the menu is given to every community."""
    kinds: dict[str, list[dict[str, Any]]] = {}
    for kind in IMPORT_ORDER:
        if kind == MENU:
            communities = [c.get("id") for c in spec.get("communities") or []]
            kinds[kind] = [{"community_id": c, **item} for c in communities for item in spec.get("menu") or []]
        else:
            kinds[kind] = list(spec.get(kind) or spec.get(kind.replace("-", "_")) or [])
    return kinds


async def load(
    db: AsyncDatabase[Document],
    spec: dict[str, Any],
    *,
    roster: Roster | None = None,
    progress: Progress | None = None,
) -> dict[str, importer.ImportReport]:
    """Write every good row and announce its volunteers; running it twice changes nothing. A report per kind.

    `roster` None loads without announcing: only for seeding a database before any dispatch runs.
    """
    district = dict(spec["district"])
    district_id = str(district.pop("id", ""))
    if not re.fullmatch(DISTRICT_ID_PATTERN, district_id):
        raise ValueError(f"district id {district_id!r}: lower-case letters, digits, - and _")
    repo = IntakeRepository(db, cache_seconds=importer.BULK_CACHE_SECONDS)
    await ensure_indexes(db)
    await repo.upsert_district(district_id, DistrictFields.model_validate(district).model_dump(mode="json"))
    reports: dict[str, importer.ImportReport] = {}
    for kind, records in rows_of(spec).items():
        if records:
            reports[kind] = await importer.import_rows(
                repo,
                district_id=district_id,
                kind=kind,
                records=records,
                from_csv=False,
                roster=roster,
                on_progress=None if progress is None else progress(kind),
            )
    return reports


def read_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "district" not in data:
        raise ValueError(f"{path}: expected a mapping with a 'district' key")
    return data
