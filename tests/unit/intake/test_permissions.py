"""Who may send which command: volunteers only on their own offers and assignments."""

from __future__ import annotations

from typing import Any

import pytest

from services.intake.permissions import check_command
from shared.api_keys import Role

OFFERED: dict[str, Any] = {"status": "offered", "offered_volunteer_ids": ["v-a", "v-b"], "assigned_volunteer_id": None}
ASSIGNED: dict[str, Any] = {"status": "assigned", "offered_volunteer_ids": [], "assigned_volunteer_id": "v-a"}
RESOLVED: dict[str, Any] = {"status": "resolved", "assigned_volunteer_id": "v-a", "rating": None}


@pytest.mark.parametrize(
    ("command", "role", "subject", "request_doc", "token", "expected"),
    [
        ("offer.accept", Role.VOLUNTEER, "v-a", OFFERED, False, None),
        ("offer.accept", Role.VOLUNTEER, "v-c", OFFERED, False, "not-your-offer"),
        ("offer.decline", Role.OPERATOR, "op", OFFERED, False, "forbidden"),
        ("offer.accept", Role.VOLUNTEER, "v-a", None, False, "not-your-offer"),
        ("work.start", Role.VOLUNTEER, "v-a", ASSIGNED, False, None),
        ("work.complete", Role.VOLUNTEER, "v-b", ASSIGNED, False, "not-your-assignment"),
        ("work.cannot_complete", Role.CLIENT_APP, "k", ASSIGNED, True, "forbidden"),
        ("operator.escalate", Role.OPERATOR, "op", ASSIGNED, False, None),
        ("operator.close", Role.VOLUNTEER, "v-a", ASSIGNED, False, "forbidden"),
        ("operator.reassign", Role.CLIENT_APP, "k", ASSIGNED, True, "forbidden"),
        ("request.cancel", Role.CLIENT_APP, "k", ASSIGNED, True, None),
        ("request.cancel", Role.CLIENT_APP, "k", ASSIGNED, False, "access-token-required"),
        ("request.cancel", Role.OPERATOR, "op", None, False, None),
        ("request.cancel", Role.VOLUNTEER, "v-a", ASSIGNED, False, "forbidden"),
        ("request.add_note", Role.VOLUNTEER, "v-a", ASSIGNED, False, None),
        ("request.add_note", Role.VOLUNTEER, "v-z", ASSIGNED, False, "not-your-assignment"),
        ("request.rate", Role.CLIENT_APP, "k", RESOLVED, True, None),
        ("request.rate", Role.CLIENT_APP, "k", ASSIGNED, True, "not-resolved"),
        ("request.rate", Role.CLIENT_APP, "k", {**RESOLVED, "rating": {"stars": 4}}, True, "already-rated"),
        ("request.rate", Role.OPERATOR, "op", None, False, "not-resolved"),
    ],
)
def test_command_permissions(
    command: str, role: Role, subject: str, request_doc: dict[str, Any] | None, token: bool, expected: str | None
) -> None:
    refusal = check_command(command, role=role, subject=subject, request=request_doc, resident_token_ok=token)
    assert (refusal.code if refusal else None) == expected
    if refusal is not None:
        assert refusal.status in (403, 409)
