"""Load a district's reference data (structure, volunteers, menu) from a YAML document, idempotently."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from shared.mongo import Document


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    await db.grids.create_index([("district_id", ASCENDING), ("community_id", ASCENDING)])
    await db.menu_items.create_index(
        [("district_id", ASCENDING), ("community_id", ASCENDING), ("code", ASCENDING)], unique=True
    )
    await db.volunteers.create_index([("district_id", ASCENDING), ("grid_id", ASCENDING)])


def _documents(spec: dict[str, Any]) -> dict[str, list[Document]]:
    district = spec["district"]
    district_id: str = district["id"]
    grid_to_community = {grid["id"]: grid["community_id"] for grid in spec.get("grids", [])}
    community_to_street = {c["id"]: c["street_office_id"] for c in spec.get("communities", [])}

    def scoped(item: dict[str, Any], **extra: Any) -> Document:
        fields = {key: value for key, value in item.items() if key != "id"}
        return {"_id": item["id"], "district_id": district_id, **fields, **extra}

    volunteers = [
        scoped(
            v,
            community_id=grid_to_community[v["grid_id"]],
            street_office_id=community_to_street[grid_to_community[v["grid_id"]]],
            active=v.get("active", True),
            capacity=v.get("capacity", 3),
        )
        for v in spec.get("volunteers", [])
    ]
    menu = [
        {
            "_id": f"{community['id']}:{item['code']}",
            "district_id": district_id,
            "community_id": community["id"],
            **item,
        }
        for community in spec.get("communities", [])
        for item in spec.get("menu", [])
    ]
    return {
        "districts": [{"_id": district_id, **{k: v for k, v in district.items() if k != "id"}}],
        "street_offices": [scoped(s) for s in spec.get("street_offices", [])],
        "communities": [scoped(c) for c in spec.get("communities", [])],
        "grids": [scoped(g, street_office_id=community_to_street[g["community_id"]]) for g in spec.get("grids", [])],
        "volunteers": volunteers,
        "menu_items": menu,
    }


async def load(db: AsyncDatabase[Document], spec: dict[str, Any]) -> dict[str, int]:
    """Upsert every document; running it twice changes nothing. Returns counts per collection."""
    await ensure_indexes(db)
    counts: dict[str, int] = {}
    for collection, documents in _documents(spec).items():
        if documents:
            await db[collection].bulk_write(
                [UpdateOne({"_id": d["_id"]}, {"$set": d}, upsert=True) for d in documents], ordered=True
            )
        counts[collection] = len(documents)
    return counts


def read_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "district" not in data:
        raise ValueError(f"{path}: expected a mapping with a 'district' key")
    return data
