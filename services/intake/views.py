"""Request documents → what each caller may see."""

from __future__ import annotations

from typing import Any

from services.intake.schemas import RatingView, RequestSummary, RequestView, ResidentView
from shared.mongo import Document

_SUMMARY_FIELDS = tuple(RequestSummary.model_fields)


def _common(document: Document) -> dict[str, Any]:
    fields = {name: document.get(name) for name in _SUMMARY_FIELDS if name not in ("request_id",)}
    fields["request_id"] = document["_id"]
    if not isinstance(fields.get("status"), str):
        fields["status"] = "submitted"
    return fields


def summary(document: Document) -> RequestSummary:
    return RequestSummary.model_validate(_common(document))


def detail(document: Document, *, with_resident: bool) -> RequestView:
    rating = document.get("rating")
    resident = document.get("resident") or {}
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
                name=resident.get("name"), phone=resident.get("phone"), language=resident.get("language")
            )
            if with_resident
            else None,
        }
    )
