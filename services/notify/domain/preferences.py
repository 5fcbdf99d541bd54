"""Recipients' channel choices and quiet hours; critical events bypass both."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from services.notify.domain.quiet_hours import in_quiet_hours

CLOCK_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"


class Channel(StrEnum):
    STREAM = "stream"  # SSE / WebSocket while the app is open
    SMS = "sms"
    VOICE = "voice"


PUSH_CHANNELS = (Channel.SMS, Channel.VOICE)


class QuietHours(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start: str = Field(pattern=CLOCK_PATTERN, examples=["22:00"])
    end: str = Field(pattern=CLOCK_PATTERN, examples=["07:00"])


class Preferences(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: list[Channel] = Field(default_factory=lambda: [Channel.STREAM])
    quiet_hours: QuietHours | None = None
    language: str = Field("zh", pattern=r"^(zh|en)$")


def push_channels(preferences: Preferences, *, critical: bool, now: datetime, timezone: str) -> list[Channel]:
    """Channels a push message goes out on now: all push channels when critical, none in quiet hours."""
    if critical:
        return list(PUSH_CHANNELS)
    wanted = [channel for channel in preferences.channels if channel in PUSH_CHANNELS]
    quiet = preferences.quiet_hours
    if wanted and quiet and in_quiet_hours(now, timezone=timezone, start=quiet.start, end=quiet.end):
        return []
    return wanted
