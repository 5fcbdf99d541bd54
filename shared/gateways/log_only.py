"""Development default: writes what would be sent, never the full number."""

from __future__ import annotations

import logging

from shared.gateways.interface import GatewayChannel
from shared.masking import mask_phone

log = logging.getLogger(__name__)


class LogOnlyGateway:
    def __init__(self) -> None:
        self.sent: list[tuple[GatewayChannel, str, str]] = []

    async def send(self, *, channel: GatewayChannel, phone: str, text: str, language: str) -> None:
        self.sent.append((channel, mask_phone(phone), text))
        log.info("%s to %s (%s): %s", channel.value, mask_phone(phone), language, text)
