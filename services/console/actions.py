"""Operator actions from the console, published as commands on the requests topic (202 after the ack)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.api_keys import Principal
from shared.contracts import Actor, EventEnvelope, Topics, new_event
from shared.contracts.commands import (
    OPERATOR_CLOSE,
    OPERATOR_ESCALATE,
    OPERATOR_REASSIGN,
    REQUEST_CANCEL,
    CancelRequestV1,
    CloseV1,
    EscalateV1,
    ReassignV1,
)
from shared.kafka import EventPublisher

ActionName = Literal["reassign", "escalate", "close", "cancel"]


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000, description="Why; shown in the request's timeline")
    volunteer_id: str | None = Field(None, max_length=64, description="reassign only: the new volunteer")


def command_for(action: ActionName, body: ActionBody, principal: Principal) -> tuple[str, BaseModel]:
    actor = Actor(role="operator", subject=principal.key_id)
    if action == "reassign":
        return OPERATOR_REASSIGN, ReassignV1(actor=actor, reason=body.reason, volunteer_id=body.volunteer_id)
    if action == "escalate":
        return OPERATOR_ESCALATE, EscalateV1(actor=actor, reason=body.reason)
    if action == "close":
        return OPERATOR_CLOSE, CloseV1(actor=actor, reason=body.reason)
    return REQUEST_CANCEL, CancelRequestV1(actor=actor, reason=body.reason)


async def publish_action(
    *,
    publisher: EventPublisher,
    topics: Topics,
    principal: Principal,
    district_id: str,
    request_id: str,
    action: ActionName,
    body: ActionBody,
) -> EventEnvelope:
    event_type, payload = command_for(action, body, principal)
    event = new_event(
        event_type=event_type,
        source="console",
        district_id=district_id,
        request_id=request_id,
        event_id=str(uuid.uuid4()),
        data=payload,
    )
    await publisher.publish(topics.requests, event)
    return event
