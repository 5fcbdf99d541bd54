"""Who may see a status event: a request's resident, the volunteers it concerns, the district's operators."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RequestScope:
    request_id: str


@dataclass(frozen=True)
class VolunteerScope:
    volunteer_id: str


@dataclass(frozen=True)
class DistrictScope:
    community_ids: frozenset[str] = field(default_factory=frozenset)
    grid_ids: frozenset[str] = field(default_factory=frozenset)
    statuses: frozenset[str] = field(default_factory=frozenset)


Scope = RequestScope | VolunteerScope | DistrictScope


def volunteers_of(data: dict[str, Any]) -> list[str]:
    """Every volunteer an event concerns: the assignee and everyone offered."""
    ids = list(data.get("volunteer_ids") or [])
    single = data.get("volunteer_id")
    if single and single not in ids:
        ids.append(single)
    return ids


def matches(scope: Scope, *, request_id: str, volunteers: list[str], routing: dict[str, Any]) -> bool:
    """True when an event of the subscriber's district belongs to the subscriber's scope."""
    if isinstance(scope, RequestScope):
        return scope.request_id == request_id
    if isinstance(scope, VolunteerScope):
        return scope.volunteer_id in volunteers
    if scope.community_ids and routing.get("community_id") not in scope.community_ids:
        return False
    if scope.grid_ids and routing.get("grid_id") not in scope.grid_ids:
        return False
    return not scope.statuses or routing.get("status") in scope.statuses
