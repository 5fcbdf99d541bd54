"""Settings of notify's SMS/voice messages: retries of failed sends and how long a reply prompt stays open."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MessageSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    max_attempts: int = Field(6, ge=1, validation_alias="NOTIFY_SMS_MAX_ATTEMPTS")
    backoff_base_seconds: float = Field(10.0, gt=0, validation_alias="NOTIFY_SMS_BACKOFF_BASE_SECONDS")
    backoff_cap_seconds: float = Field(900.0, gt=0, validation_alias="NOTIFY_SMS_BACKOFF_CAP_SECONDS")
    # A volunteer's "1"/"2" is matched to the offer for this long; dispatch still refuses a stale accept.
    offer_reply_minutes: float = Field(60.0, gt=0, validation_alias="NOTIFY_OFFER_REPLY_MINUTES")
    rating_reply_hours: float = Field(72.0, gt=0, validation_alias="NOTIFY_RATING_REPLY_HOURS")
