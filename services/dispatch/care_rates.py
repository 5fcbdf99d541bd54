"""Care rates, a projection of dispatch's requests (CONTRACTS C): on-time check-ins per grid and volunteer,
missed check-ins, and the time from a miss to a welfare check's volunteer, per local month.

Pure: from the requests a batch changed, the `$inc` updates by `_id` (`care_rates`) of those whose care just
settled. Each request is counted once: `care.counted` is set here, before the request is written, and the
rates are written after it (a crash in between loses an increment; it never doubles one).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from services.dispatch.request import Request
from shared.mongo import Document

RateUpdate = tuple[str, Document, Document]  # (_id, fields to set, fields to increment)
FIELDS: Final = (
    "check_ins",
    "on_time",
    "late",
    "missed",
    "occurrences",
    "occurrences_done",
    "welfare_checks",
    "welfare_assigned",
    "welfare_seconds_to_assign",
)


def rate_id(district_id: str, scope: str, subject: str, month: str) -> str:
    """`<district>:grid:<grid>:<YYYY-MM>` or `<district>:volunteer:<volunteer>:<YYYY-MM>` (local month)."""
    return f"{district_id}:{scope}:{subject}:{month}"


def updates(requests: Iterable[Request]) -> list[RateUpdate]:
    merged: dict[str, RateUpdate] = {}
    for request in requests:
        counted = _count(request)
        if counted is None:
            continue
        month, volunteer_id, increments = counted
        assert request.care is not None
        request.care["counted"] = True
        subjects = [("grid", request.place.grid_id)] + ([("volunteer", volunteer_id)] if volunteer_id else [])
        for scope, subject in subjects:
            key = rate_id(request.district_id, scope, subject, month)
            fields = {"district_id": request.district_id, "scope": scope, "subject": subject, "month": month}
            _, _, total = merged.setdefault(key, (key, fields, {}))
            for name, value in increments.items():
                total[name] = total.get(name, 0) + value
    return list(merged.values())


def _count(request: Request) -> tuple[str, str | None, dict[str, float]] | None:
    """(month, volunteer, increments) when the request's care has just settled; None otherwise."""
    care = request.care
    if not care or care.get("counted") or not care.get("day"):
        return None
    month = str(care["day"])[:7]
    volunteers = [e.get("volunteer_id") for e in care.get("log", []) if e.get("volunteer_id")]
    volunteer_id = volunteers[-1] if volunteers else request.state.assignee_id
    if care.get("kind") == "welfare":
        if request.live and request.assigned_at is None:
            return None  # counted once a volunteer takes it (or it closes without one)
        missed_at = care.get("missed_at") or request.created_at
        increments: dict[str, float] = {"welfare_checks": 1}
        if request.assigned_at is not None:
            increments["welfare_assigned"] = 1
            increments["welfare_seconds_to_assign"] = max(0.0, (request.assigned_at - missed_at).total_seconds())
        return month, request.state.assignee_id, increments
    if not care.get("plan_id"):
        return None  # a need filed on a visit: an ordinary request
    if care.get("confirms"):
        if care.get("missed_at"):
            return month, volunteer_id, {"check_ins": 1, "missed": 1}
        if care.get("confirmed_at"):
            on_time = bool(care.get("on_time"))
            return month, volunteer_id, {"check_ins": 1, "on_time": int(on_time), "late": int(not on_time)}
        return None
    if request.live:
        return None
    return month, volunteer_id, {"occurrences": 1, "occurrences_done": int(request.resolved_at is not None)}
