"""Our documents as Open311 GeoReport v2 records: pure functions, field names exactly as the spec's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from shared.mongo import Document

CHINA = timezone(timedelta(hours=8))
CLOSED = frozenset({"resolved", "rated", "cancelled", "rejected", "expired"})
GRID_ATTRIBUTE = "grid_id"
STATUS_NOTES = {
    "submitted": "Received; looking for a volunteer.",
    "matching": "Looking for a volunteer.",
    "offered": "Offered to a volunteer, waiting for an answer.",
    "assigned": "A volunteer has taken it.",
    "in_progress": "A volunteer is working on it.",
    "resolved": "Done.",
    "rated": "Done and rated by the resident.",
    "escalated": "Passed to the next level (community, street office or district).",
    "cancelled": "Cancelled.",
    "rejected": "Not possible from this menu.",
    "expired": "Expired without being done.",
    "unassigned": "Waiting: no volunteer is available yet.",
}


def statuses_of(wanted: set[str]) -> list[str] | None:
    """Internal statuses behind the spec's `status` filter; None means all."""
    if wanted >= {"open", "closed"}:
        return None
    if "closed" in wanted:
        return sorted(CLOSED)
    return sorted(set(STATUS_NOTES) - CLOSED)


def w3c(moment: datetime | None) -> str | None:
    """Spec datetimes are W3C (ISO 8601 with offset); we answer in China time."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(CHINA).replace(microsecond=0).isoformat()


def open_or_closed(status: str) -> str:
    return "closed" if status in CLOSED else "open"


def service_name(item: Document, english: bool) -> str:
    return str(item.get("name_en" if english else "name_zh") or item.get("name_zh") or item.get("code"))


def service(item: Document, english: bool) -> dict[str, Any]:
    return {
        "service_code": item["code"],
        "service_name": service_name(item, english),
        "description": item.get("description_en" if english else "description_zh") or "",
        "metadata": True,  # every service has at least the grid question
        "type": "realtime",
        "keywords": ",".join(item.get("required_skills", [])),
        "group": item.get("category", ""),
    }


def services(items: list[Document], english: bool) -> list[dict[str, Any]]:
    """One service per code: communities of a district may publish the same item."""
    seen: dict[str, dict[str, Any]] = {}
    for item in items:
        seen.setdefault(item["code"], service(item, english))
    return list(seen.values())


def definition(item: Document, grids: list[Document], english: bool) -> dict[str, Any]:
    grid_question = {
        "variable": True,
        "code": GRID_ATTRIBUTE,
        "datatype": "singlevaluelist",
        "required": True,
        "datatype_description": "The resident's grid (may be given as address_id instead)",
        "order": 1,
        "description": "网格 / Grid",
        "values": [
            {"key": g["_id"], "name": str(g.get("name_en" if english else "name_zh") or g["_id"])} for g in grids
        ],
    }
    attributes = [grid_question]
    for order, attribute in enumerate(item.get("attributes", []), start=2):
        attributes.append(
            {
                "variable": True,
                "code": attribute["code"],
                "datatype": attribute.get("datatype", "string"),
                "required": bool(attribute.get("required")),
                "datatype_description": "",
                "order": order,
                "description": attribute.get("description", ""),
                "values": [{"key": v["key"], "name": v["name"]} for v in attribute.get("values", [])],
            }
        )
    return {"service_code": item["code"], "attributes": attributes}


def service_request(document: Document, item: Document | None, english: bool) -> dict[str, Any]:
    status = str(document.get("status", "submitted"))
    return {
        "service_request_id": document["_id"],
        "status": open_or_closed(status),
        "status_notes": STATUS_NOTES.get(status, status),
        "service_name": service_name(item, english) if item else document.get("menu_item_code"),
        "service_code": document.get("menu_item_code"),
        "description": document.get("text") or "",
        "agency_responsible": document.get("community_id") or "",
        "service_notice": "",
        "requested_datetime": w3c(document.get("submitted_at")),
        "updated_datetime": w3c(document.get("updated_at")),
        "expected_datetime": w3c(document.get("resolve_due_at") or document.get("sla_due_at")),
        "address": "",
        "address_id": document.get("grid_id") or "",
        "zipcode": "",
        "lat": None,
        "long": None,
        "media_url": "",
    }


def pending_request(request_id: str, now: datetime) -> dict[str, Any]:
    """A request Kafka accepted that dispatch has not processed yet."""
    return service_request({"_id": request_id, "status": "submitted", "submitted_at": now}, None, False)
