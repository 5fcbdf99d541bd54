"""Operators' view of SMS/voice messages that could not be delivered (or are still being retried)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.requests import HTTPConnection
from pydantic import BaseModel

from services.notify.auth import OPERATOR_ROLES, Ctx, DistrictId, district_principal

router = APIRouter(tags=["messages"])


class OutboundMessageRead(BaseModel):
    id: str
    request_id: str | None
    event_type: str | None
    audience: str | None
    channel: str
    phone: str  # masked
    text: str
    state: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    updated_at: datetime | None


def message_read(document: dict[str, Any]) -> OutboundMessageRead:
    return OutboundMessageRead(
        id=document["_id"],
        request_id=document.get("request_id"),
        event_type=document.get("event_type"),
        audience=document.get("audience"),
        channel=document.get("channel", "sms"),
        phone=document.get("phone_masked", "****"),
        text=document.get("text", ""),
        state=document.get("state", "failed"),
        attempts=int(document.get("attempts") or 0),
        last_error=document.get("last_error"),
        next_attempt_at=document.get("next_attempt_at"),
        updated_at=document.get("updated_at"),
    )


async def operator_of_district(connection: HTTPConnection, ctx: Ctx, district_id: DistrictId) -> str:
    await district_principal(connection, ctx.keys, OPERATOR_ROLES, district_id)
    return district_id


OperatorsDistrict = Annotated[str, Depends(operator_of_district)]


@router.get(
    "/v1/districts/{district_id}/messages",
    response_model=list[OutboundMessageRead],
    summary="Operator: SMS/voice messages that failed (or are waiting to be retried), at most 200",
)
async def list_messages(
    ctx: Ctx,
    district_id: OperatorsDistrict,
    state: Annotated[Literal["failed", "retrying", "sending"], Query()] = "failed",
) -> list[OutboundMessageRead]:
    return [message_read(document) for document in await ctx.notifier.messages.of_district(district_id, state)]
