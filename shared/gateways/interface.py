"""The one interface every SMS/voice adapter implements."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class GatewayChannel(StrEnum):
    SMS = "sms"
    VOICE = "voice"  # the text is read aloud by a call


class SendFailed(Exception):
    """The carrier refused or could not be reached; `retryable` says whether trying again can help."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.retryable = retryable


class MessageGateway(Protocol):
    async def send(self, *, channel: GatewayChannel, phone: str, text: str, language: str) -> None:
        """Hand one message to the carrier; raise on failure (SendFailed when the carrier said why)."""
