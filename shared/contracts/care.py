"""Care plans on grid.requests.v2: the reference-data admin announces every plan it writes or deletes.

Like roster changes (`shared/contracts/roster.py`): the admin (intake's admin API, `gridctl import`) is the
only writer of `care_plans`; after each write it publishes the whole plan keyed by the district, so the
dispatch replica owning the district keeps the plan's next occurrence in its in-memory timers without
reading the collection again. The event carries no request id.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contracts.envelope import register_payload

CARE_PLAN_CHANGED = "care.plan_changed"
CARE_PLAN_REMOVED = "care.plan_removed"

CareKind = Literal["check_in", "visit", "errand", "blood_pressure"]
LOCAL_TIME = r"^([01]\d|2[0-3]):[0-5]\d$"


class CareScheduleV1(BaseModel):
    """How often, in the district's time zone: weekly on `weekdays` or every `every_days` days, in a window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    starts_on: date
    ends_on: date | None = None
    weekdays: list[int] = Field(default_factory=list, max_length=7, description="Monday=0; or give every_days")
    every_days: int | None = Field(None, ge=1, le=366)
    window_start: str = Field(pattern=LOCAL_TIME, examples=["09:00"], description="local time")
    window_end: str = Field(pattern=LOCAL_TIME, examples=["11:00"], description="local time, same day")

    @model_validator(mode="after")
    def _one_rhythm_and_a_window(self) -> CareScheduleV1:
        if bool(self.weekdays) == (self.every_days is not None):
            raise ValueError("give either weekdays or every_days")
        if any(not 0 <= d <= 6 for d in self.weekdays) or len(set(self.weekdays)) != len(self.weekdays):
            raise ValueError("weekdays are distinct numbers from 0 (Monday) to 6 (Sunday)")
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        if self.ends_on is not None and self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        return self


class CareContactV1(BaseModel):
    """Whom to alert when a check-in is missed (besides the resident's proxy and building leader)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["building_leader", "family", "linked_heart", "grid_worker", "doctor", "other"]
    name: str = Field("", max_length=100)
    phone: str | None = Field(None, max_length=32)
    volunteer_id: str | None = Field(None, max_length=64)


class CarePlanChangedV1(BaseModel):
    """A care plan was created or edited (incl. paused with `active: false`): the plan as stored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    plan_id: str = Field(min_length=1, max_length=64)
    resident_id: str = Field(min_length=1, max_length=64)
    grid_id: str = Field(min_length=1, max_length=64)
    kind: CareKind
    menu_item_code: str = Field("", max_length=64, description="An errand's menu item; the kind's own otherwise")
    schedule: CareScheduleV1
    volunteer_id: str | None = Field(None, max_length=64, description="The linked heart asked first")
    alert: list[CareContactV1] = Field(default_factory=list, max_length=10)
    note: str = Field("", max_length=500)
    active: bool = True


class CarePlanRemovedV1(BaseModel):
    """A care plan was deleted: no further occurrences (those already created stay)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    plan_id: str = Field(min_length=1, max_length=64)


CARE_PAYLOADS: dict[str, type[BaseModel]] = {
    CARE_PLAN_CHANGED: CarePlanChangedV1,
    CARE_PLAN_REMOVED: CarePlanRemovedV1,
}

for _event_type, _model in CARE_PAYLOADS.items():
    register_payload(_event_type, 1, _model)
