"""Request documents → what each caller may see."""

from __future__ import annotations

from typing import Any, Literal

from services.intake.schemas import HouseholdView, ProxyView, RatingView, RequestSummary, RequestView, ResidentView
from shared.masking import mask_address
from shared.mongo import Document

_SUMMARY_FIELDS = tuple(RequestSummary.model_fields)

# Who reads a household: staff; the volunteer doing the task (needs the door and whom to call); a volunteer
# deciding on an offer (needs only how far it is).
Audience = Literal["staff", "assigned", "offered"]


def _common(document: Document) -> dict[str, Any]:
    fields = {name: document.get(name) for name in _SUMMARY_FIELDS if name not in ("request_id",)}
    fields["request_id"] = document["_id"]
    if not isinstance(fields.get("status"), str):
        fields["status"] = "submitted"
    return fields


def summary(document: Document) -> RequestSummary:
    return RequestSummary.model_validate(_common(document))


def resident_id_of(document: Document) -> str | None:
    """The household a request was filed for (dispatch stores it at the top level and in `resident`)."""
    found = document.get("resident_id") or (document.get("resident") or {}).get("id")
    return found if isinstance(found, str) else None


def household(resident: Document, audience: Audience) -> HouseholdView:
    """A resident record as `audience` may see it; tolerant of records written before a field existed."""
    proxy = resident.get("proxy")
    door = audience != "offered"
    return HouseholdView(
        resident_id=resident["_id"],
        address=str(resident.get("address") or "") if door else mask_address(str(resident.get("address") or "")),
        building=resident.get("building") if door else None,
        unit=resident.get("unit") if door else None,
        household=resident.get("household") if door else None,
        language=resident.get("language"),
        has_phone=bool(resident.get("phone")),
        proxy=ProxyView(kind=proxy["kind"], name=proxy["name"], phone=proxy["phone"])
        if door and isinstance(proxy, dict)
        else None,
        vulnerabilities=list(resident.get("vulnerabilities") or []) if door else [],
        phone=resident.get("phone") if audience == "staff" else None,
        name=resident.get("name") if audience == "staff" else None,
    )


def detail(document: Document, *, with_resident: bool, household_view: HouseholdView | None = None) -> RequestView:
    rating = document.get("rating")
    requester = document.get("resident") or {}
    return RequestView.model_validate(
        {
            **_common(document),
            "street_office_id": document.get("street_office_id"),
            "text": document.get("text"),
            "attributes": document.get("attributes") or {},
            "offered_volunteer_ids": document.get("offered_volunteer_ids") or [],
            "created_at": document.get("created_at"),
            "accept_due_at": document.get("accept_due_at"),
            "resolve_due_at": document.get("resolve_due_at"),
            "rating": RatingView(stars=rating["stars"], comment=rating.get("comment", "")) if rating else None,
            "notes": document.get("notes") or [],
            "timeline": document.get("timeline") or [],
            "resident": ResidentView(
                name=requester.get("name"), phone=requester.get("phone"), language=requester.get("language")
            )
            if with_resident
            else None,
            "household": household_view,
        }
    )
