"""What a volunteer sees of a task: only what the task needs, decided here, pure.

An offer shows what to decide on: the item, the resident's words and answers, the area (building, the
address masked), the countdown. Personal data follows acceptance: once the task is the volunteer's, the
full address, the resident's name and phone and the proxy's (家属、楼栋长、连心人) number appear, because
the work needs them. Nothing else of the request (who submitted it, other volunteers, decisions, the
outbox) is ever shown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from shared.masking import mask_address, mask_phone
from shared.mongo import Document

AWAITING: Final = frozenset({"submitted", "matching", "offered", "escalated"})
WORKING: Final = frozenset({"assigned", "in_progress"})
Kind = Literal["offer", "assignment"]


def kind_for(request: Document, volunteer_id: str) -> Kind | None:
    """Whether the request document confirms the task is this volunteer's now, and as what; else None."""
    status = request.get("status")
    if status in WORKING and request.get("assigned_volunteer_id") == volunteer_id:
        return "assignment"
    if status in AWAITING and volunteer_id in (request.get("offered_volunteer_ids") or []):
        return "offer"
    return None


def _masked_name(name: str) -> str:
    return (name[:1] + "*" * max(1, len(name) - 1)) if name else ""


def _when(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else (str(value) if value else None)


def answers_in_words(definitions: list[Document], answers: Document) -> list[Document]:
    """The resident's answers with the menu item's wording: its description as the label, list values by name."""
    by_code = {str(d.get("code")): d for d in definitions if isinstance(d, dict)}
    worded: list[Document] = []
    for code, value in answers.items():
        definition = by_code.get(code, {})
        names = {str(v.get("key")): v.get("name") for v in definition.get("values") or [] if isinstance(v, dict)}
        values = value if isinstance(value, list) else [value]
        shown = "、".join(str(names.get(str(v), v)) for v in values)
        worded.append({"code": code, "label": definition.get("description") or code, "value": shown})
    return worded


def task_view(
    request: Document,
    kind: Kind,
    *,
    entry: Document | None,
    resident: Document | None,
    item: Document | None,
) -> Document:
    """The task in plain words for the page; `entry` is the volunteer_tasks entry (countdowns)."""
    on_request = request.get("resident") or {}
    profile = resident or {}
    address = str(profile.get("address") or "")
    building = " ".join(str(profile.get(k) or "") for k in ("building", "unit")).strip()
    view: Document = {
        "request_id": request["_id"],
        "kind": kind,
        "status": request.get("status"),
        "priority": request.get("priority"),
        "menu_item": {
            "code": request.get("menu_item_code"),
            "name_zh": (item or {}).get("name_zh") or request.get("menu_item_code"),
            "name_en": (item or {}).get("name_en") or request.get("menu_item_code"),
        },
        "text": request.get("text") or "",
        "answers": request.get("attributes") or {},
        "answers_in_words": answers_in_words((item or {}).get("attributes") or [], request.get("attributes") or {}),
        "grid_id": request.get("grid_id"),
        "expires_at": _when((entry or {}).get("expires_at")),
        "accept_due_at": _when(request.get("accept_due_at")),
        "resolve_due_at": _when(request.get("resolve_due_at")),
        "assigned_at": _when(request.get("assigned_at")),
    }
    name = str(profile.get("name") or on_request.get("name") or "")
    proxy = profile.get("proxy") or None
    if kind == "offer":
        view["resident"] = {"name": _masked_name(name), "vulnerabilities": profile.get("vulnerabilities") or []}
        view["place"] = {"building": building or None, "address": mask_address(address) if address else None}
        view["proxy"] = {"kind": proxy.get("kind")} if isinstance(proxy, dict) and proxy.get("kind") else None
        return view
    phone = on_request.get("phone") or profile.get("phone")
    view["resident"] = {
        "name": name,
        "phone": phone,
        "language": on_request.get("language") or profile.get("language"),
        "vulnerabilities": profile.get("vulnerabilities") or [],
    }
    view["place"] = {"building": building or None, "address": address or None}
    view["proxy"] = (
        {"kind": proxy.get("kind"), "name": proxy.get("name"), "phone": proxy.get("phone")}
        if isinstance(proxy, dict)
        else None
    )
    view["notes"] = [
        {"at": _when(n.get("at")), "by": n.get("by"), "text": n.get("text")} for n in request.get("notes") or []
    ]
    return view


def volunteer_view(volunteer: Document) -> Document:
    """The signed-in volunteer's own profile, as the page shows it."""
    return {
        "volunteer_id": volunteer["_id"],
        "district_id": volunteer.get("district_id"),
        "name": volunteer.get("name"),
        "grid_id": volunteer.get("grid_id"),
        "kind": volunteer.get("kind"),
        "phone": mask_phone(volunteer["phone"]) if volunteer.get("phone") else None,
        "on_duty": bool(volunteer.get("on_duty", True)),
        "active": bool(volunteer.get("active", True)),
        "leave": [{"start": str(p["start"])[:10], "end": str(p["end"])[:10]} for p in volunteer.get("leave") or []],
    }
