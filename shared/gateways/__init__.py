"""Carriers that put a text in front of a person: SMS and voice calls, behind one interface.

Notify sends status messages through it and intake's volunteer sign-in sends one-time codes; both pick the
adapter with `gateway_for(name)`, so a deployment chooses its carrier by one setting.
"""

from shared.gateways.interface import GatewayChannel, MessageGateway, SendFailed
from shared.gateways.log_only import LogOnlyGateway
from shared.gateways.registry import gateway_for

__all__ = ["GatewayChannel", "LogOnlyGateway", "MessageGateway", "SendFailed", "gateway_for"]
