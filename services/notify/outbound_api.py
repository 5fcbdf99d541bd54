"""Operators' view of SMS/voice messages that could not be delivered (or are still being retried)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel

from services.notify.auth import OPERATOR_ROLES, Denied, district_principal
from services.notify.outbound_store import OutboundMessages
from shared.api_keys import ApiKeyRepository
from shared.problem_details import problem_response


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


def outbound_messages_router(keys: ApiKeyRepository, messages: OutboundMessages) -> APIRouter:
    router = APIRouter(tags=["messages"])

    @router.get(
        "/v1/districts/{district_id}/messages",
        response_model=list[OutboundMessageRead],
        summary="Operator: SMS/voice messages that failed (or are waiting to be retried), at most 200",
    )
    async def list_messages(
        request: Request,
        district_id: Annotated[str, Path(min_length=1, max_length=63)],
        state: Annotated[Literal["failed", "retrying", "sending"], Query()] = "failed",
    ) -> Any:
        try:
            await district_principal(request, keys, OPERATOR_ROLES, district_id)
        except Denied as denied:
            return problem_response(denied.status, denied.code, denied.detail, code=denied.code)
        return [message_read(document) for document in await messages.of_district(district_id, state)]

    return router
