"""Request and response bodies of notify's HTTP API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from services.notify.domain.preferences import Preferences
from shared.contracts.status import STATUS_EVENT_TYPES
from shared.phone_numbers import PhoneNumber
from shared.text_hygiene import SingleLineText


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: SingleLineText = Field(max_length=2000, examples=["https://app.example.org/grid/webhooks"])
    event_types: list[str] = Field(
        default_factory=list,
        description="Status event types to receive; empty means all",
        examples=[["request.assigned"]],
    )
    description: SingleLineText = Field("", max_length=200)


class WebhookRead(BaseModel):
    id: str
    district_id: str
    url: str
    event_types: list[str]
    description: str
    created_at: datetime


class WebhookCreated(WebhookRead):
    secret: str = Field(description="Shown once: verify Grid-Webhook-Signature with it")


class DeliveryRead(BaseModel):
    id: str
    event_id: str
    event_type: str
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None


class Replayed(BaseModel):
    replayed: int


class ResidentPreferences(Preferences):
    """The PUT body: the stored Preferences plus the phone, which is stored beside them (never inside)."""

    phone: PhoneNumber | None = Field(None, description="Where SMS or voice messages go")

    def preferences(self) -> Preferences:
        return Preferences.model_validate(self.model_dump(include=set(Preferences.model_fields)))


class PreferencesRead(Preferences):
    phone: str | None = Field(None, description="Masked")


def known_event_types(types: list[str]) -> list[str]:
    return [t for t in types if t not in STATUS_EVENT_TYPES]
