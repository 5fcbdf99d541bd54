"""Push messages (SMS and voice) to residents and volunteers through the gateway of `shared.gateways`.

The adapter is chosen by the NOTIFY_SMS_GATEWAY setting (`shared.gateways.gateway_for`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.notify.domain.audiences import volunteers_of
from services.notify.domain.messages import RESIDENT_TEMPLATES, VOLUNTEER_TEMPLATES, render
from services.notify.domain.preferences import Channel, Preferences, push_channels
from shared.consumer_loop import TRANSIENT_ERRORS
from shared.contracts import EventEnvelope
from shared.gateways import GatewayChannel, MessageGateway
from shared.masking import mask_phone
from shared.mongo import Document

log = logging.getLogger(__name__)
DEFAULT_TIMEZONE = "Asia/Shanghai"


class PreferenceRepository:
    """A recipient's channels, quiet hours and language; `recipient` is `request:<id>` or `volunteer:<id>`."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._preferences = db.notify_preferences

    async def get(self, district_id: str, recipient: str) -> tuple[Preferences, str | None]:
        """The stored choices; a document this version cannot read counts as no choices, never as an error.

        Every status event of the recipient reads this: an exception here would fail (and dead-letter)
        each of those events, so a bad document is logged and the defaults apply until it is rewritten.
        """
        document = await self._preferences.find_one({"_id": f"{district_id}:{recipient}"})
        if document is None:
            return Preferences(), None
        phone = document.get("phone")
        phone = phone if isinstance(phone, str) and phone else None
        try:
            return Preferences.model_validate(document.get("preferences")), phone
        except ValidationError as exc:
            log.warning(
                "unreadable preferences of %s, using the defaults: %s",
                recipient,
                exc.errors(include_url=False, include_input=False),
                extra={"district_id": district_id},
            )
            return Preferences(), phone

    async def put(self, district_id: str, recipient: str, preferences: Preferences, phone: str | None) -> None:
        # Only the fields of Preferences itself: a subclass (an API body with `phone`) must not leak its own.
        stored = Preferences.model_validate(preferences.model_dump(include=set(Preferences.model_fields)))
        fields: dict[str, Any] = {
            "district_id": district_id,
            "recipient": recipient,
            "preferences": stored.model_dump(mode="json"),
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
        """Send the event's push messages once (keyed by channel, recipient and event); return how many.

        One recipient's bad data costs that recipient's message only: it is logged and the others are
        still notified. Only a transient outage (database, broker) propagates, so the event is retried.
        """
        timezone = await self._timezone(envelope.district_id)
        recipients = [f"request:{envelope.request_id}"] + [f"volunteer:{v}" for v in volunteers_of(envelope.data)]
        sent = 0
        for recipient in recipients:
            try:
                sent += await self._notify_one(envelope, recipient, timezone)
            except TRANSIENT_ERRORS:
                raise
            except Exception:
                log.exception(
                    "push message to %s failed; other recipients go on",
                    recipient,
                    extra={"event_id": envelope.id, "district_id": envelope.district_id},
                )
        return sent

    async def _notify_one(self, envelope: EventEnvelope, recipient: str, timezone: str) -> int:
        data = envelope.data
        prefs, phone = await self._preferences.get(envelope.district_id, recipient)
        kind, _, subject = recipient.partition(":")
        if kind == "volunteer" and phone is None:
            volunteer = await self._db.volunteers.find_one({"_id": subject, "district_id": envelope.district_id})
            found = (volunteer or {}).get("phone")
            phone = found if isinstance(found, str) else None
        templates = VOLUNTEER_TEMPLATES if kind == "volunteer" else RESIDENT_TEMPLATES
        message = render(templates, envelope.type, data, language=prefs.language)
        if message is None or not phone:
            return 0
        sent = 0
        channels = push_channels(prefs, critical=bool(data.get("critical")), now=datetime.now(UTC), timezone=timezone)
        for channel in channels:
            sent += await self._send(envelope, recipient, channel, phone, message.text, message.language)
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
            await self._gateway.send(channel=GatewayChannel(channel.value), phone=phone, text=text, language=language)
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
