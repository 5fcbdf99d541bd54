"""Notify's records of SMS/voice messages (`outbound_messages`) and open reply prompts (`reply_prompts`).

`outbound_messages._id` is `<channel>:<recipient>:<event id>`: inserting it is the claim that makes one
replica, once, the sender of that message. The full phone number is kept only while the message may still
be sent (state `sending` or `retrying`); once sent or given up only the masked number remains.
Operators list a district's `failed` (or `retrying`) messages by indexed equality.

`reply_prompts._id` is the phone in E.164: the latest message that asked that phone for a digit reply.
Intake's inbound-SMS webhook reads it by `_id` (CONTRACTS B); notify is its only writer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.mongo import Document

LISTED_AT_MOST: Final = 200
STATES: Final = ("sending", "sent", "retrying", "failed")


@dataclass(frozen=True)
class Outbound:
    """One message to (re)send: what the retry timer needs without reading the database again."""

    id: str
    channel: str
    phone: str
    text: str
    language: str
    attempts: int = 0


class OutboundMessages:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._messages = db.outbound_messages

    async def ensure_indexes(self) -> None:
        await self._messages.create_index([("district_id", ASCENDING), ("state", ASCENDING)])
        await self._messages.create_index([("sender", ASCENDING), ("state", ASCENDING)])

    async def claim(self, document: Document) -> bool:
        """Record a message before sending it; False when this message (same `_id`) was already claimed."""
        try:
            await self._messages.insert_one(document)
        except DuplicateKeyError:
            return False
        return True

    async def sent(self, message_id: str, *, attempts: int, at: datetime) -> None:
        await self._set(message_id, {"state": "sent", "attempts": attempts, "sent_at": at, "updated_at": at}, True)

    async def retrying(self, message_id: str, *, attempts: int, error: str, next_at: datetime, at: datetime) -> None:
        fields = {"state": "retrying", "attempts": attempts, "last_error": error, "next_attempt_at": next_at}
        await self._set(message_id, {**fields, "updated_at": at}, False)

    async def failed(self, message_id: str, *, attempts: int, error: str, at: datetime) -> None:
        fields = {"state": "failed", "attempts": attempts, "last_error": error, "next_attempt_at": None}
        await self._set(message_id, {**fields, "updated_at": at}, True)

    async def _set(self, message_id: str, fields: dict[str, Any], forget_phone: bool) -> None:
        update: dict[str, Any] = {"$set": fields}
        if forget_phone:
            update["$unset"] = {"phone": ""}
        await self._messages.update_one({"_id": message_id}, update)

    async def retrying_of(self, sender: str) -> list[Document]:
        """This replica's messages that were waiting for a retry when it stopped (few: an outage's worth)."""
        cursor = self._messages.find({"sender": sender, "state": "retrying"}, limit=10_000)
        return [document async for document in cursor]

    async def of_district(self, district_id: str, state: str) -> list[Document]:
        cursor = self._messages.find({"district_id": district_id, "state": state}, limit=LISTED_AT_MOST)
        return [document async for document in cursor]


class ReplyPrompts:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._prompts = db.reply_prompts

    async def open(
        self,
        phone: str,
        *,
        district_id: str,
        request_id: str,
        kind: str,
        volunteer_id: str | None,
        language: str,
        sent_at: datetime,
        expires_at: datetime,
    ) -> None:
        """The phone's latest prompt replaces any earlier one: a reply answers the last question asked."""
        document = {
            "district_id": district_id,
            "request_id": request_id,
            "kind": kind,
            "volunteer_id": volunteer_id,
            "language": language,
            "sent_at": sent_at,
            "expires_at": expires_at,
        }
        await self._prompts.replace_one({"_id": phone}, document, upsert=True)
