"""The adapter a deployment chose, by name: the one place a new carrier is added."""

from __future__ import annotations

from shared.gateways.interface import MessageGateway
from shared.gateways.log_only import LogOnlyGateway
from shared.gateways.twilio import TwilioGateway, TwilioSettings

GATEWAY_NAMES = ("log", "twilio")


def gateway_for(name: str) -> MessageGateway:
    """`log` writes what would be sent; `twilio` sends through Twilio, configured by TWILIO_* variables."""
    if name == "log":
        return LogOnlyGateway()
    if name == "twilio":
        return TwilioGateway(TwilioSettings())
    known = ", ".join(GATEWAY_NAMES)
    raise ValueError(f"unknown SMS gateway {name!r} (known: {known}); add it in shared/gateways/registry.py")
