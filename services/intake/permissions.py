"""Which caller may send which command about which request: pure, over the request's plain fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.api_keys import Role

STAFF = frozenset({Role.OPERATOR, Role.DISTRICT_ADMIN, Role.PLATFORM_ADMIN})

# A resident's "I'm fine" on a scheduled check-in is theirs to say (or an operator's on the phone for them).
RESIDENT_COMMANDS = frozenset(
    {"request.cancel", "request.rate", "request.add_note", "request.report_not_done", "care.confirm_check_in"}
)
OFFER_COMMANDS = frozenset({"offer.accept", "offer.decline"})
WORK_COMMANDS = frozenset(
    {"work.start", "work.complete", "work.cannot_complete", "work.edit_hours", "care.record_visit"}
)
OPERATOR_COMMANDS = frozenset({"operator.reassign", "operator.escalate", "operator.close", "operator.change_priority"})


@dataclass(frozen=True)
class Refusal:
    status: int  # 403 or 409
    code: str
    detail: str


def offered_to(request: dict[str, Any] | None, volunteer_id: str) -> bool:
    return request is not None and volunteer_id in (request.get("offered_volunteer_ids") or [])


def assigned_to(request: dict[str, Any] | None, volunteer_id: str) -> bool:
    return request is not None and request.get("assigned_volunteer_id") == volunteer_id


def check_command(
    command_type: str, *, role: Role, subject: str, request: dict[str, Any] | None, resident_token_ok: bool
) -> Refusal | None:
    """None when the command may be published; otherwise why not."""
    if command_type in OPERATOR_COMMANDS:
        return None if role in STAFF else Refusal(403, "forbidden", "only operators may do this")
    if command_type in OFFER_COMMANDS:
        if role is not Role.VOLUNTEER:
            return Refusal(403, "forbidden", "only the volunteer an offer was made to may answer it")
        if not offered_to(request, subject):
            return Refusal(403, "not-your-offer", "this request is not offered to you")
        return None
    if command_type in WORK_COMMANDS:
        if role is not Role.VOLUNTEER:
            return Refusal(403, "forbidden", "only the assigned volunteer may report on the work")
        if not assigned_to(request, subject):
            return Refusal(403, "not-your-assignment", "this request is not assigned to you")
        return None
    if command_type in RESIDENT_COMMANDS:
        if role in STAFF:
            pass
        elif role is Role.CLIENT_APP:
            if not resident_token_ok:
                return Refusal(403, "access-token-required", "send the request's access token in X-Access-Token")
        elif role is Role.VOLUNTEER and command_type == "request.add_note":
            if not (assigned_to(request, subject) or offered_to(request, subject)):
                return Refusal(403, "not-your-assignment", "this request is not assigned or offered to you")
        else:
            return Refusal(403, "forbidden", "this role may not do this")
        if command_type == "request.rate" and request is not None:
            if request.get("rating"):
                return Refusal(409, "already-rated", "this request has already been rated")
            if request.get("status") != "resolved":
                return Refusal(409, "not-resolved", "a request can be rated only once it is resolved")
        if command_type == "request.rate" and request is None:
            return Refusal(409, "not-resolved", "a request can be rated only once it is resolved")
        return None
    return Refusal(403, "forbidden", f"unknown command {command_type!r}")
