"""The hotline desk's look-up of a caller by phone: which households they are, or speak for, and what those
households asked for lately. Pure: the route reads the documents, this shapes what the operator sees.

Personal data is masked in the list (the operator confirms who is calling by asking, not by reading it out);
the request's detail shows the full address to staff once a request is chosen.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from shared.masking import mask_address, mask_phone
from shared.mongo import Document

# Bounds of one look-up: a building leader may speak for dozens of households.
HOUSEHOLDS_LISTED = 50
HOUSEHOLDS_WITH_REQUESTS = 10
REQUESTS_READ_PER_HOUSEHOLD = 100
RECENT_REQUESTS_SHOWN = 5


class PlaceName(BaseModel):
    id: str
    name_zh: str | None = None
    name_en: str | None = None


class RecentRequest(BaseModel):
    request_id: str
    status: str
    level: str | None = None
    menu_item: PlaceName = Field(description="The item, by code and name in each language")
    submitted_at: datetime | None = None
    sla_due_at: datetime | None = None
    rating_stars: int | None = None


class MaskedProxy(BaseModel):
    kind: str
    name: str
    phone: str = Field(description="Masked")


class HouseholdMatch(BaseModel):
    resident_id: str
    matched_as: Literal["resident", "proxy"] = Field(description="The caller is the resident, or their proxy")
    name: str = Field(description="Masked: family name and one character")
    grid: PlaceName
    building: str = ""
    unit: str = ""
    household: str = ""
    address: str = Field(description="Masked to the neighbourhood")
    phone: str | None = Field(None, description="Masked; none when the household has no phone")
    language: str | None = None
    proxy: MaskedProxy | None = None
    vulnerabilities: list[str] = Field(default_factory=list)
    recent_requests: list[RecentRequest] = Field(
        default_factory=list, description=f"Newest first, at most {RECENT_REQUESTS_SHOWN}"
    )


class CallerLookup(BaseModel):
    phone: str = Field(description="The caller's number, masked")
    households: list[HouseholdMatch]
    requests_by_phone: list[RecentRequest] = Field(
        description="Requests filed with this phone that name no household (newest first)"
    )


def mask_name(name: str) -> str:
    """'马秀兰' -> '马*兰'; 'Ma' -> 'M*'; enough to confirm with the caller, not to read out."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def _newest_first(requests: list[Document]) -> list[Document]:
    oldest = datetime.min.replace(tzinfo=UTC)

    def submitted(document: Document) -> datetime:
        at = document.get("submitted_at")
        if not isinstance(at, datetime):
            return oldest
        return at if at.tzinfo is not None else at.replace(tzinfo=UTC)

    return sorted(requests, key=lambda d: (submitted(d), d["_id"]), reverse=True)


def menu_item_key(request: Document) -> str:
    """The `_id` of a request's menu item: `<community_id>:<code>`."""
    return f"{request.get('community_id') or ''}:{request.get('menu_item_code') or ''}"


def recent(requests: list[Document], item_names: dict[str, Document]) -> list[RecentRequest]:
    """The newest few, with item names from `item_names` (menu items by `menu_item_key`)."""
    shown = []
    for document in _newest_first(requests)[:RECENT_REQUESTS_SHOWN]:
        code = str(document.get("menu_item_code") or "")
        item = item_names.get(menu_item_key(document)) or {}
        rating = document.get("rating")
        shown.append(
            RecentRequest(
                request_id=document["_id"],
                status=str(document.get("status") or "submitted"),
                level=document.get("level"),
                menu_item=PlaceName(id=code, name_zh=item.get("name_zh"), name_en=item.get("name_en")),
                submitted_at=document.get("submitted_at"),
                sla_due_at=document.get("sla_due_at"),
                rating_stars=rating.get("stars") if isinstance(rating, dict) else None,
            )
        )
    return shown


def household_match(
    resident: Document,
    *,
    caller_phone: str,
    grid: Document | None,
    requests: list[Document],
    item_names: dict[str, Document],
) -> HouseholdMatch:
    proxy = resident.get("proxy")
    phone = resident.get("phone")
    return HouseholdMatch(
        resident_id=resident["_id"],
        matched_as="resident" if phone == caller_phone else "proxy",
        name=mask_name(str(resident.get("name") or "")),
        grid=PlaceName(
            id=str(resident.get("grid_id") or ""),
            name_zh=(grid or {}).get("name_zh"),
            name_en=(grid or {}).get("name_en"),
        ),
        building=str(resident.get("building") or ""),
        unit=str(resident.get("unit") or ""),
        household=str(resident.get("household") or ""),
        address=mask_address(str(resident.get("address") or "")),
        phone=mask_phone(phone) if isinstance(phone, str) and phone else None,
        language=resident.get("language"),
        proxy=MaskedProxy(kind=proxy["kind"], name=proxy["name"], phone=mask_phone(proxy["phone"]))
        if isinstance(proxy, dict)
        else None,
        vulnerabilities=list(resident.get("vulnerabilities") or []),
        recent_requests=recent(requests, item_names),
    )


def without_household(requests: list[Document]) -> list[Document]:
    """Requests filed with the phone but not for a known household (those are listed under it already)."""
    return [d for d in requests if not (d.get("resident_id") or (d.get("resident") or {}).get("id"))]


def ordered(matches: list[HouseholdMatch]) -> list[HouseholdMatch]:
    """The caller's own household first, then those they speak for, door by door."""
    return sorted(matches, key=lambda m: (m.matched_as != "resident", m.building, m.unit, m.household, m.resident_id))
