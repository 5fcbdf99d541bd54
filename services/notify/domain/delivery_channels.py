"""By which channels a message goes out now: the one that reaches the person, unless they chose otherwise.

Nobody has to set anything up to be told: without stored preferences a person gets the channel that
reaches them (SMS, or a call read aloud for a resident who cannot read). Stored preferences choose
channels and quiet hours; a critical event still reaches the person on that natural channel, whatever
they chose and whatever the hour.
"""

from __future__ import annotations

from datetime import datetime

from services.notify.domain.preferences import PUSH_CHANNELS, Channel, Preferences, push_channels


def natural_channel(*, cannot_read: bool) -> Channel:
    return Channel.VOICE if cannot_read else Channel.SMS


def channels_for(
    preferences: Preferences | None, *, natural: Channel, critical: bool, now: datetime, timezone: str
) -> list[Channel]:
    chosen = [] if preferences is None else [c for c in preferences.channels if c in PUSH_CHANNELS]
    if critical:
        return [natural, *(c for c in chosen if c is not natural)]
    if preferences is None:
        return [natural]
    return push_channels(preferences, critical=False, now=now, timezone=timezone)
