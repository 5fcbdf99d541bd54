"""Roster changes on grid.requests.v2: the reference-data admin announces every volunteer it writes.

The admin (intake's admin API, `gridctl`) is the only writer of `volunteers`; it publishes the whole
profile after each write, keyed by the district, so that the dispatch replica owning the district
updates its in-memory roster without reading the collection again. The event carries no request id.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contracts.envelope import register_payload

VOLUNTEER_CHANGED = "roster.volunteer_changed"
VOLUNTEER_REMOVED = "roster.volunteer_removed"

Skill = Annotated[str, Field(min_length=1, max_length=64)]


class WeeklyWindowV1(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    weekday: int = Field(ge=0, le=6, description="Monday=0")
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class LocationV1(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class LeaveV1(BaseModel):
    """Whole local days away, `start` to `end` included."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> LeaveV1:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


class VolunteerChangedV1(BaseModel):
    """A volunteer was added or edited (incl. deactivated, or going on or off duty): the profile as stored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    volunteer_id: str = Field(min_length=1, max_length=64)
    street_office_id: str = Field("", max_length=64)
    community_id: str = Field("", max_length=64)
    grid_id: str = Field(min_length=1, max_length=64)
    skills: list[Skill] = Field(default_factory=list, max_length=50)
    languages: list[Annotated[str, Field(min_length=1, max_length=16)]] = Field(default_factory=list, max_length=20)
    capacity: int = Field(3, ge=0, le=50)
    active: bool = True
    on_duty: bool = Field(True, description="False while the volunteer is off duty: not offered anything")
    availability: list[WeeklyWindowV1] = Field(default_factory=list, max_length=50, description="Empty: always")
    location: LocationV1 | None = None
    leave: list[LeaveV1] = Field(default_factory=list, max_length=20, description="Days away: not offered anything")


class VolunteerRemovedV1(BaseModel):
    """A volunteer was deleted from the district's roster."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    volunteer_id: str = Field(min_length=1, max_length=64)


ROSTER_PAYLOADS: dict[str, type[BaseModel]] = {
    VOLUNTEER_CHANGED: VolunteerChangedV1,
    VOLUNTEER_REMOVED: VolunteerRemovedV1,
}

for _event_type, _model in ROSTER_PAYLOADS.items():
    register_payload(_event_type, 1, _model)
