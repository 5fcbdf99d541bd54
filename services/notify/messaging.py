"""Push messages (SMS and voice) to residents, volunteers and responsible people through `shared.gateways`.

For each status event: gather the facts by `_id` (`contacts`), let the pure plan decide who is told what
(`domain/message_plan`), apply each person's preferences (`domain/delivery_channels`), then claim and send
each message once. A send that fails for a reason worth retrying is tried again after a backoff held in
memory (no collection is polled); each state change is written to `outbound_messages`, where operators see
failures. The adapter is chosen by the NOTIFY_SMS_GATEWAY setting (`shared.gateways.gateway_for`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter
from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase

from services.notify.contacts import ContactBook
from services.notify.domain.audiences import volunteers_of
from services.notify.domain.backoff import retry_delay
from services.notify.domain.delivery_channels import channels_for
from services.notify.domain.message_plan import (
    EventFacts,
    Planned,
    ResidentFacts,
    VolunteerFacts,
    audiences_told,
    plan,
)
from services.notify.domain.messages import Audience, PromptKind
from services.notify.domain.preferences import Channel, Preferences
from services.notify.message_settings import MessageSettings
from services.notify.outbound_store import Outbound, OutboundMessages, ReplyPrompts
from shared.consumer_loop import TRANSIENT_ERRORS
from shared.contracts import EventEnvelope
from shared.gateways import GatewayChannel, MessageGateway, SendFailed
from shared.masking import mask_phone, mask_phones_in
from shared.mongo import Document

log = logging.getLogger(__name__)
DEFAULT_TIMEZONE = "Asia/Shanghai"
MESSAGES = Counter("notify_messages", "SMS/voice messages by channel and outcome", ["channel", "outcome"])


class PreferenceRepository:
    """A recipient's channels, quiet hours and language; `recipient` is `request:<id>` or `volunteer:<id>`."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._preferences = db.notify_preferences

    async def stored(self, district_id: str, recipient: str) -> tuple[Preferences | None, str | None]:
        """The stored choices (None when the person never chose: the defaults reach them) and phone.

        Every status event of the recipient reads this: an exception here would fail (and dead-letter)
        each of those events, so a bad document is logged and counts as no choices until it is rewritten.
        """
        document = await self._preferences.find_one({"_id": f"{district_id}:{recipient}"})
        if document is None:
            return None, None
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
            return None, phone

    async def get(self, district_id: str, recipient: str) -> tuple[Preferences, str | None]:
        stored, phone = await self.stored(district_id, recipient)
        return stored or Preferences(), phone

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
    def __init__(
        self,
        db: AsyncDatabase[Document],
        preferences: PreferenceRepository,
        gateway: MessageGateway,
        *,
        settings: MessageSettings | None = None,
        sender: str = "notify",
        contacts: ContactBook | None = None,
    ) -> None:
        self._preferences = preferences
        self._gateway = gateway
        self._settings = settings or MessageSettings()
        self._sender = sender  # this replica's stable id: it retries the messages it claimed
        self._contacts = contacts or ContactBook(db)
        self.messages = OutboundMessages(db)
        self._prompts = ReplyPrompts(db)
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._retrying: set[asyncio.Task[None]] = set()
        self._carrier_down_until = 0.0  # monotonic time until which new messages are queued, not tried inline

    async def start(self) -> None:
        """Indexes, and the retries this replica had scheduled before it stopped, rescheduled in memory."""
        await self.messages.ensure_indexes()
        now = datetime.now(UTC)
        for document in await self.messages.retrying_of(self._sender):
            if not document.get("phone"):
                continue
            due = document.get("next_attempt_at")
            delay = max(0.0, (due.replace(tzinfo=UTC) - now).total_seconds()) if isinstance(due, datetime) else 0.0
            self._schedule(_outbound_of(document), delay)

    async def close(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for task in list(self._retrying):
            task.cancel()
        await asyncio.gather(*self._retrying, return_exceptions=True)

    async def notify(self, envelope: EventEnvelope) -> int:
        """Send the event's messages once (keyed by channel, recipient and event); return how many went out.

        One recipient's bad data costs that recipient's message only: it is logged and the others are
        still notified. Only a transient outage (database, broker) propagates, so the event is retried.
        """
        told = audiences_told(envelope.type)
        if (envelope.data.get("detail") or {}).get("tell_resident") is False:
            told.discard(Audience.RESIDENT)  # e.g. a scheduled check-in closing after "I'm fine" (docs/care.md)
        if not told or envelope.request_id is None:
            return 0
        district_id, data = envelope.district_id, envelope.data
        planned, preferences = await self._plan(envelope, envelope.request_id, told)
        district = await self._contacts.district(district_id) or {}
        timezone = str(district.get("timezone") or DEFAULT_TIMEZONE)
        now = datetime.now(UTC)
        sent = 0
        for message in planned:
            chosen = preferences.get(message.recipient)
            channels = channels_for(
                chosen, natural=message.natural, critical=bool(data.get("critical")), now=now, timezone=timezone
            )
            for channel in channels:
                try:
                    sent += await self._send(envelope, message, channel)
                except TRANSIENT_ERRORS:
                    raise
                except Exception:
                    log.exception(
                        "%s to %s failed; other recipients go on",
                        channel.value,
                        message.recipient,
                        extra={"event_id": envelope.id, "district_id": district_id},
                    )
        return sent

    async def _plan(
        self, envelope: EventEnvelope, request_id: str, told: set[Audience]
    ) -> tuple[list[Planned], dict[str, Preferences | None]]:
        district_id, data = envelope.district_id, envelope.data
        preferences: dict[str, Preferences | None] = {}
        resident: ResidentFacts | None = None
        if Audience.RESIDENT in told:
            recipient = f"request:{request_id}"
            preferences[recipient], phone = await self._preferences.stored(district_id, recipient)
            resident = await self._contacts.resident(district_id, request_id, phone_override=phone)
            chosen = preferences[recipient]
            if resident is not None and chosen is not None:
                resident = replace(resident, language=chosen.language)
        volunteers: dict[str, VolunteerFacts] = {}
        for volunteer_id in volunteers_of(data):
            volunteer = await self._contacts.volunteer(district_id, volunteer_id)
            if Audience.VOLUNTEER in told:
                recipient = f"volunteer:{volunteer_id}"
                chosen, phone = await self._preferences.stored(district_id, recipient)
                preferences[recipient] = chosen
                language = chosen.language if chosen else volunteer.language
                volunteer = replace(volunteer, phone=phone or volunteer.phone, language=language)
            volunteers[volunteer_id] = volunteer
        responsible = await self._contacts.responsible(district_id, data) if Audience.RESPONSIBLE in told else None
        facts = EventFacts(
            event_type=envelope.type,
            request_id=request_id,
            names=await self._contacts.names(district_id, data),
            resident=resident,
            volunteer_id=data.get("volunteer_id"),
            volunteers=volunteers,
            responsible=responsible,
        )
        return plan(facts), preferences

    async def _send(self, envelope: EventEnvelope, message: Planned, channel: Channel) -> int:
        now = datetime.now(UTC)
        outbound = Outbound(
            id=f"{channel.value}:{message.recipient}:{envelope.id}",
            channel=channel.value,
            phone=message.phone,
            text=message.texts[channel],
            language=message.language,
        )
        claimed = await self.messages.claim(
            {
                "_id": outbound.id,
                "district_id": envelope.district_id,
                "request_id": envelope.request_id,
                "event_type": envelope.type,
                "recipient": message.recipient,
                "audience": message.audience.value,
                "channel": channel.value,
                "phone": message.phone,
                "phone_masked": mask_phone(message.phone),
                "language": message.language,
                "text": outbound.text,
                "state": "sending",
                "attempts": 0,
                "sender": self._sender,
                "created_at": now,
                "updated_at": now,
            }
        )
        if not claimed:
            return 0  # the other replica, or an earlier delivery of this event, sent it
        if message.prompt is not None and channel is Channel.SMS:
            await self._open_prompt(envelope, message, message.prompt, now)
        if time.monotonic() < self._carrier_down_until:
            await self._defer(outbound)
            return 0
        return 1 if await self._attempt(outbound) else 0

    async def _defer(self, outbound: Outbound) -> None:
        """The carrier just failed: queue this message for later rather than wait out its timeout inline.

        Without this, an outage would hold the consumer (and so every stream of the replica) for one
        timeout per message; deferred messages are tried by their timers, and the first success clears it.
        """
        delay = retry_delay(1, base=self._settings.backoff_base_seconds, cap=self._settings.backoff_cap_seconds)
        now = datetime.now(UTC)
        error = "deferred: the carrier failed just before"
        await _recorded(
            self.messages.retrying(
                outbound.id, attempts=outbound.attempts, error=error, next_at=now + timedelta(seconds=delay), at=now
            )
        )
        MESSAGES.labels(outbound.channel, "deferred").inc()
        self._schedule(outbound, delay)

    async def _open_prompt(self, envelope: EventEnvelope, message: Planned, kind: PromptKind, now: datetime) -> None:
        if kind is PromptKind.OFFER:
            lifetime = timedelta(minutes=self._settings.offer_reply_minutes)
        elif kind is PromptKind.CHECK_IN:
            # Open until the check-in's window ends: a later "1" would confirm a check-in already missed.
            ends = envelope.data.get("detail", {}).get("window_end")
            lifetime = max(timedelta(0), datetime.fromisoformat(ends) - now) if ends else timedelta(hours=2)
        else:
            lifetime = timedelta(hours=self._settings.rating_reply_hours)
        await self._prompts.open(
            message.phone,
            district_id=envelope.district_id,
            request_id=str(envelope.request_id),
            kind=kind.value,
            volunteer_id=message.volunteer_id,
            language=message.language,
            sent_at=now,
            expires_at=now + lifetime,
        )

    async def _attempt(self, outbound: Outbound) -> bool:
        """One try; on failure either schedule the next (backoff, in memory) or give up. True when sent."""
        attempts = outbound.attempts + 1
        try:
            await self._gateway.send(
                channel=GatewayChannel(outbound.channel),
                phone=outbound.phone,
                text=outbound.text,
                language=outbound.language,
            )
        except Exception as exc:
            retryable = exc.retryable if isinstance(exc, SendFailed) else True
            error = mask_phones_in(str(exc) or type(exc).__name__)[:300]
            now = datetime.now(UTC)
            if retryable:
                self._carrier_down_until = time.monotonic() + self._settings.backoff_base_seconds
            if retryable and attempts < self._settings.max_attempts:
                delay = retry_delay(
                    attempts, base=self._settings.backoff_base_seconds, cap=self._settings.backoff_cap_seconds
                )
                log.warning("%s failed (%s); retry %d in %.0f s", outbound.id, error, attempts, delay)
                await _recorded(
                    self.messages.retrying(
                        outbound.id, attempts=attempts, error=error, next_at=now + timedelta(seconds=delay), at=now
                    )
                )
                MESSAGES.labels(outbound.channel, "retried").inc()
                self._schedule(replace(outbound, attempts=attempts), delay)
            else:
                log.warning("%s failed for good after %d attempts: %s", outbound.id, attempts, error)
                await _recorded(self.messages.failed(outbound.id, attempts=attempts, error=error, at=now))
                MESSAGES.labels(outbound.channel, "failed").inc()
            return False
        self._carrier_down_until = 0.0
        await _recorded(self.messages.sent(outbound.id, attempts=attempts, at=datetime.now(UTC)))
        MESSAGES.labels(outbound.channel, "sent").inc()
        return True

    def _schedule(self, outbound: Outbound, delay: float) -> None:
        loop = asyncio.get_running_loop()
        self._timers[outbound.id] = loop.call_later(delay, self._retry_now, outbound)

    def _retry_now(self, outbound: Outbound) -> None:
        self._timers.pop(outbound.id, None)
        task = asyncio.create_task(self._retry(outbound), name=f"notify-message-retry-{outbound.id}")
        self._retrying.add(task)
        task.add_done_callback(self._retrying.discard)

    async def _retry(self, outbound: Outbound) -> None:
        await self._attempt(outbound)


async def _recorded(write: Awaitable[None]) -> None:
    """Record a send's outcome; a database outage then costs the record, never a second send or a lost retry."""
    try:
        await write
    except Exception:
        log.exception("could not record a message's outcome")


def _outbound_of(document: Document) -> Outbound:
    return Outbound(
        id=document["_id"],
        channel=document["channel"],
        phone=document["phone"],
        text=document["text"],
        language=document.get("language") or "zh",
        attempts=int(document.get("attempts") or 0),
    )
