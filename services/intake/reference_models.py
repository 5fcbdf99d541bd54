"""Reference data as clients write it (admin endpoints and `gridctl import`): one model per kind.

Ids travel in the URL (or the `id` column of an import), never in these bodies; fields that are
derived (a grid's street office, a volunteer's community) or owned by dispatch are not accepted.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.intake.attributes import AttributeCode
from services.intake.schemas import PhoneNumber
from shared.contracts.care import CareKind, CareScheduleV1
from shared.text_hygiene import MultiLineText, SingleLineText

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
CODE_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
TIME_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"
ReferenceId = Annotated[str, Field(pattern=ID_PATTERN, min_length=1, max_length=64)]
Name = Annotated[SingleLineText, Field(min_length=1, max_length=200)]


VolunteerKind = Literal[
    "in_service_party_member",
    "party_representative",
    "grid_leader",
    "grid_worker",
    "building_leader",
    "youth_league_member",
    "volunteer",
]
Vulnerability = Literal["lives_alone", "mobility", "hearing", "sight", "cannot_read"]
Urgency = Literal["low", "normal", "high", "critical"]
Level = Literal["grid", "community", "street", "district"]
Datatype = Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DistrictFields(_Body):
    name_zh: Name
    name_en: Name
    timezone: SingleLineText = Field("Asia/Shanghai", max_length=64)


class StreetOfficeFields(_Body):
    name_zh: Name
    name_en: Name
    responsible_name: SingleLineText | None = Field(None, max_length=100)
    responsible_phone: PhoneNumber | None = None


class CommunityFields(_Body):
    street_office_id: ReferenceId
    name_zh: Name
    name_en: Name
    director_name: SingleLineText | None = Field(None, max_length=100)
    director_phone: PhoneNumber | None = None


class GridFields(_Body):
    community_id: ReferenceId
    name_zh: Name
    name_en: Name


class TeamFields(_Body):
    grid_id: ReferenceId
    captain_volunteer_id: ReferenceId
    vice_captain_volunteer_id: ReferenceId | None = None
    member_ids: list[ReferenceId] = Field(default_factory=list, max_length=500)


class AvailabilityWindow(_Body):
    weekday: int = Field(ge=0, le=6, description="Monday=0")
    start: str = Field(pattern=TIME_PATTERN, examples=["08:00"])
    end: str = Field(pattern=TIME_PATTERN, examples=["18:00"])

    @model_validator(mode="after")
    def _ordered(self) -> AvailabilityWindow:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class LeavePeriod(_Body):
    start: date = Field(description="First day away (the district's local date)")
    end: date = Field(description="Last day away, included")

    @model_validator(mode="after")
    def _ordered(self) -> LeavePeriod:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        return self


class Location(_Body):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class VolunteerFields(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "grid_id": "xgll-01",
                    "name": "李建国",
                    "kind": "grid_leader",
                    "skills": ["errand", "repair"],
                    "languages": ["zh"],
                    "capacity": 3,
                    "phone": "13800009999",
                    "availability": [{"weekday": 0, "start": "08:00", "end": "18:00"}],
                }
            ]
        },
    )

    grid_id: ReferenceId
    name: Name
    kind: VolunteerKind = "volunteer"
    skills: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=50)
    languages: list[Annotated[str, Field(min_length=1, max_length=16)]] = Field(
        default_factory=lambda: ["zh"], max_length=20
    )
    capacity: int = Field(3, ge=0, le=50, description="Open assignments at most")
    active: bool = Field(True, description="False: left the roster (kept for the record), never offered anything")
    on_duty: bool = Field(True, description="False while off duty for a while: not offered anything until back")
    phone: PhoneNumber | None = None
    availability: list[AvailabilityWindow] = Field(
        default_factory=list, max_length=50, description="Empty means always available"
    )
    location: Location | None = None
    leave: list[LeavePeriod] = Field(default_factory=list, max_length=20, description="Days away: offered nothing")


ProxyKind = Literal["building_leader", "family", "linked_heart"]
ResidentLanguage = Literal["zh", "en"]
AddressPart = Annotated[SingleLineText, Field(max_length=50)]


class ProxyContact(_Body):
    """Who takes the calls and messages for a household without a phone (or who cannot answer one)."""

    kind: ProxyKind = Field(description="building_leader (楼长), family (家属) or linked_heart (结对志愿者)")
    name: Name
    phone: PhoneNumber


class ResidentFields(_Body):
    """A household (户) under a grid: where to visit, who lives there, and how to reach them.

    A household may have no phone at all; then it needs a proxy contact, or nobody could be told that help
    is on its way."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "grid_id": "xgll-01",
                    "building": "3栋",
                    "unit": "2单元",
                    "household": "401",
                    "address": "香格里拉社区3栋2单元401",
                    "name": "马秀兰",
                    "phone": None,
                    "language": "zh",
                    "proxy": {"kind": "building_leader", "name": "李建国", "phone": "13800009999"},
                    "vulnerabilities": ["lives_alone", "hearing"],
                    "linked_volunteer_id": "v-li-jianguo",
                }
            ]
        },
    )

    grid_id: ReferenceId
    building: AddressPart = Field("", description="Building (楼/栋)")
    unit: AddressPart = Field("", description="Unit or entrance (单元)")
    household: AddressPart = Field("", description="Door or room (户/室)")
    address: Annotated[SingleLineText, Field(min_length=1, max_length=300)] = Field(
        description="The full address for visits; shown to staff, and masked to the assigned task for volunteers"
    )
    name: Annotated[SingleLineText, Field(min_length=1, max_length=100)]
    phone: PhoneNumber | None = Field(None, description="None: the household has no phone (then `proxy` is needed)")
    language: ResidentLanguage = "zh"
    proxy: ProxyContact | None = None
    vulnerabilities: list[Vulnerability] = Field(default_factory=list, max_length=5)
    linked_volunteer_id: ReferenceId | None = Field(None, description="The linked-heart (结对) volunteer, if any")

    @model_validator(mode="after")
    def _reachable(self) -> ResidentFields:
        if self.phone is None and self.proxy is None:
            raise ValueError(
                "a household without a phone needs a proxy contact (building leader, family or linked heart)"
            )
        if len(set(self.vulnerabilities)) != len(self.vulnerabilities):
            raise ValueError("vulnerabilities: each at most once")
        return self


class CareContact(_Body):
    role: Literal["building_leader", "family", "linked_heart", "grid_worker", "doctor", "other"]
    name: SingleLineText = Field("", max_length=100)
    phone: PhoneNumber | None = None
    volunteer_id: ReferenceId | None = None


class CarePlanFields(_Body):
    """Scheduled care for a household: what, how often (local times of the district), by whom, whom to alert."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "resident_id": "res-0001",
                    "kind": "check_in",
                    "schedule": {
                        "starts_on": "2026-12-01",
                        "weekdays": [0, 3],
                        "window_start": "09:00",
                        "window_end": "11:00",
                    },
                    "volunteer_id": "v-0001",
                    "alert": [{"role": "building_leader", "name": "马阿姨", "phone": "13800001111"}],
                }
            ]
        },
    )

    resident_id: ReferenceId
    kind: CareKind
    menu_item_code: str = Field("", max_length=64, description="The errand's menu item (e.g. weekly rice and oil)")
    schedule: CareScheduleV1
    volunteer_id: ReferenceId | None = Field(None, description="The linked heart (连心人) asked first")
    alert: list[CareContact] = Field(default_factory=list, max_length=10)
    note: SingleLineText = Field("", max_length=500)
    active: bool = Field(True, description="False pauses the plan: no further occurrences")

    @model_validator(mode="after")
    def _errand_names_its_item(self) -> CarePlanFields:
        if self.kind == "errand" and not self.menu_item_code:
            raise ValueError("an errand names its menu item (menu_item_code)")
        if self.menu_item_code and not re.fullmatch(CODE_PATTERN, self.menu_item_code):
            raise ValueError("menu_item_code is not a valid code (a-z, 0-9, . _ -)")
        return self


class AttributeValue(_Body):
    key: str = Field(min_length=1, max_length=64)
    name: SingleLineText = Field(min_length=1, max_length=200)


class MenuAttribute(_Body):
    code: AttributeCode
    datatype: Datatype = "string"
    required: bool = False
    description: MultiLineText = Field("", max_length=500)
    values: list[AttributeValue] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _lists_have_values(self) -> MenuAttribute:
        if self.datatype.endswith("valuelist") and not self.values:
            raise ValueError(f"a {self.datatype} attribute needs values")
        return self


class Deadline(_Body):
    accept_minutes: int = Field(ge=1, le=525_600)
    resolve_minutes: int = Field(ge=1, le=525_600)


class MenuItemFields(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name_zh": "代购药品",
                    "name_en": "Buy medicine",
                    "category": "errand",
                    "required_skills": ["errand"],
                    "urgency": "normal",
                    "deadlines": {"grid": {"accept_minutes": 30, "resolve_minutes": 180}},
                    "attributes": [
                        {"code": "pharmacy", "datatype": "string", "required": False, "description": "Which pharmacy"}
                    ],
                }
            ]
        },
    )

    name_zh: Name
    name_en: Name
    description_zh: MultiLineText = Field("", max_length=2000)
    description_en: MultiLineText = Field("", max_length=2000)
    category: SingleLineText = Field(min_length=1, max_length=64)
    required_skills: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=20
    )
    urgency: Urgency = "normal"
    deadlines: dict[Level, Deadline] = Field(default_factory=dict)
    attributes: list[MenuAttribute] = Field(default_factory=list, max_length=50)
    active: bool = True
    offer_timeout_seconds: float | None = Field(
        None, gt=0, le=86_400, description="How long an offer waits for an answer; dispatch's default when absent"
    )
    widen_every_seconds: float | None = Field(
        None, gt=0, le=86_400, description="Urgent items: how often the offer widens to more volunteers"
    )

    @model_validator(mode="after")
    def _unique_attribute_codes(self) -> MenuItemFields:
        codes = [a.code for a in self.attributes]
        if len(codes) != len(set(codes)):
            raise ValueError("attribute codes must be unique")
        return self


def valid_id(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(ID_PATTERN, value) is not None
