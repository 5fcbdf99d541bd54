"""Push messages (SMS and voice) to residents and volunteers, behind a gateway adapter.

The default gateway only logs, with the number masked. A real gateway (an SMS provider's HTTP API, a
voice-call service reading the text aloud) implements `MessageGateway` and is chosen in
`gateway_for()` by the NOTIFY_SMS_GATEWAY setting: that is the one place to add it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.notify.domain.audiences import volunteers_of
from services.notify.domain.masking import mask_phone
from services.notify.domain.messages import RESIDENT_TEMPLATES, VOLUNTEER_TEMPLATES, render
from services.notify.domain.preferences import Channel, Preferences, push_channels
from shared.contracts import EventEnvelope
from shared.mongo import Document

log = logging.getLogger(__name__)
DEFAULT_TIMEZONE = "Asia/Shanghai"


class MessageGateway(Protocol):
    async def send(self, *, channel: Channel, phone: str, text: str, language: str) -> None:
        """Hand one message to the carrier; raise on failure."""


class LogOnlyGateway:
    """Development default: writes what would be sent, never the full number."""

    def __init__(self) -> None:
        self.sent: list[tuple[Channel, str, str]] = []

    async def send(self, *, channel: Channel, phone: str, text: str, language: str) -> None:
        self.sent.append((channel, mask_phone(phone), text))
        log.info("%s to %s (%s): %s", channel.value, mask_phone(phone), language, text)


def gateway_for(name: str) -> MessageGateway:
    if name == "log":
        return LogOnlyGateway()
    raise ValueError(f"unknown NOTIFY_SMS_GATEWAY {name!r}; add the adapter in services/notify/messaging.py")


class PreferenceRepository:
    """A recipient's channels, quiet hours and language; `recipient` is `request:<id>` or `volunteer:<id>`."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._preferences = db.notify_preferences

    async def get(self, district_id: str, recipient: str) -> tuple[Preferences, str | None]:
        document = await self._preferences.find_one({"_id": f"{district_id}:{recipient}"})
        if document is None:
            return Preferences(), None
        return Preferences.model_validate(document["preferences"]), document.get("phone")

    async def put(self, district_id: str, recipient: str, preferences: Preferences, phone: str | None) -> None:
        fields: dict[str, Any] = {
            "district_id": district_id,
            "recipient": recipient,
            "preferences": preferences.model_dump(mode="json"),
            "updated_at": datetime.now(UTC),
        }
        if phone is not None:
            fields["phone"] = phone
        await self._preferences.update_one({"_id": f"{district_id}:{recipient}"}, {"$set": fields}, upsert=True)


class PushNotifier:
    def __init__(self, db: AsyncDatabase[Document], preferences: PreferenceRepository, gateway: MessageGateway) -> None:
        self._db = db
        self._preferences = preferences
        self._gateway = gateway
        self._messages = db.outbound_messages

    async def _timezone(self, district_id: str) -> str:
        district = await self._db.districts.find_one({"_id": district_id})
        return str((district or {}).get("timezone") or DEFAULT_TIMEZONE)

    async def notify(self, envelope: EventEnvelope) -> int:
        """Send the event's push messages once (keyed by channel, recipient and event); return how many."""
        data = envelope.data
        critical = bool(data.get("critical"))
        district_id = envelope.district_id
        now = datetime.now(UTC)
        timezone = await self._timezone(district_id)
        sent = 0
        resident_prefs, resident_phone = await self._preferences.get(district_id, f"request:{envelope.request_id}")
        message = render(RESIDENT_TEMPLATES, envelope.type, data, language=resident_prefs.language)
        if message is not None and resident_phone:
            for channel in push_channels(resident_prefs, critical=critical, now=now, timezone=timezone):
                sent += await self._send(
                    envelope, f"request:{envelope.request_id}", channel, resident_phone, message.text, message.language
                )
        for volunteer_id in volunteers_of(data):
            prefs, phone = await self._preferences.get(district_id, f"volunteer:{volunteer_id}")
            if phone is None:
                volunteer = await self._db.volunteers.find_one({"_id": volunteer_id, "district_id": district_id})
                phone = (volunteer or {}).get("phone")
            message = render(VOLUNTEER_TEMPLATES, envelope.type, data, language=prefs.language)
            if message is None or not phone:
                continue
            for channel in push_channels(prefs, critical=critical, now=now, timezone=timezone):
                sent += await self._send(
                    envelope, f"volunteer:{volunteer_id}", channel, phone, message.text, message.language
                )
        return sent

    async def _send(
        self, envelope: EventEnvelope, recipient: str, channel: Channel, phone: str, text: str, language: str
    ) -> int:
        try:
            await self._messages.insert_one(
                {
                    "_id": f"{channel.value}:{recipient}:{envelope.id}",
                    "district_id": envelope.district_id,
                    "request_id": envelope.request_id,
                    "recipient": recipient,
                    "channel": channel.value,
                    "phone_masked": mask_phone(phone),
                    "text": text,
                    "state": "sending",
                    "created_at": datetime.now(UTC),
                }
            )
        except DuplicateKeyError:
            return 0  # the other replica, or an earlier delivery of this event, sent it
        try:
            await self._gateway.send(channel=channel, phone=phone, text=text, language=language)
        except Exception as exc:
            log.warning("%s to %s failed: %s", channel.value, mask_phone(phone), exc)
            await self._messages.update_one(
                {"_id": f"{channel.value}:{recipient}:{envelope.id}"}, {"$set": {"state": "failed"}}
            )
            return 0
        await self._messages.update_one(
            {"_id": f"{channel.value}:{recipient}:{envelope.id}"}, {"$set": {"state": "sent"}}
        )
        return 1
