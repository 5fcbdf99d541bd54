"""What intake accepts and answers; request models refuse unknown fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SubmitRequestBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "menu_item_code": "errand.groceries",
                    "grid_id": "xgll-01",
                    "resident_name": "王仁柱",
                    "resident_phone": "13800001234",
                    "text": "请帮我买十斤米和一桶油",
                }
            ]
        },
    )

    menu_item_code: str = Field(min_length=1, max_length=64, description="Code of an item of the community menu")
    grid_id: str = Field(min_length=1, max_length=64, description="The resident's grid")
    resident_name: str = Field(min_length=1, max_length=100)
    resident_phone: str = Field(min_length=3, max_length=32, pattern=r"^\+?[0-9][0-9 -]{2,30}$")
    text: str = Field("", max_length=2000, description="What the resident said, in their words")


class SubmitAccepted(BaseModel):
    request_id: str
    status: str = "submitted"
    status_url: str
    events_url: str


class RequestView(BaseModel):
    request_id: str
    district_id: str
    status: str
    grid_id: str | None = None
    menu_item_code: str | None = None
    assigned_volunteer_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    timeline: list[dict[str, Any]] = Field(default_factory=list)
