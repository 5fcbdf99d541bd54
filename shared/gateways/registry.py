"""The adapter a deployment chose, by name: the one place a new carrier is added."""

from __future__ import annotations

from shared.gateways.interface import MessageGateway
from shared.gateways.log_only import LogOnlyGateway


def gateway_for(name: str) -> MessageGateway:
    if name == "log":
        return LogOnlyGateway()
    raise ValueError(f"unknown SMS gateway {name!r}; add the adapter in shared/gateways/registry.py")
