"""Residents (per request, by access token) and volunteers (by API key) choose channels, quiet hours, language."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.notify.auth import Ctx, RequestId, ResidentInDistrict, VolunteerCaller
from services.notify.routes.streaming import TokenQuery
from services.notify.schemas import PreferencesRead, ResidentPreferences
from shared.masking import mask_phone

router = APIRouter(tags=["preferences"])


async def store(ctx: Ctx, district_id: str, recipient: str, body: ResidentPreferences) -> dict[str, Any]:
    await ctx.preferences.put(district_id, recipient, body.preferences(), body.phone)
    stored, phone = await ctx.preferences.get(district_id, recipient)
    return {**stored.model_dump(mode="json"), "phone": mask_phone(phone) if phone else None}


@router.put(
    "/v1/volunteers/me/preferences",
    response_model=PreferencesRead,
    summary="Volunteer: channels, quiet hours, language",
)
async def put_volunteer_preferences(ctx: Ctx, caller: VolunteerCaller, body: ResidentPreferences) -> Any:
    assert caller.district_id is not None
    return await store(ctx, caller.district_id, f"volunteer:{caller.subject}", body)


@router.put(
    "/v1/districts/{district_id}/requests/{request_id}/preferences",
    response_model=PreferencesRead,
    summary="Resident: channels, quiet hours, language and phone for one request",
)
async def put_resident_preferences(
    ctx: Ctx,
    audience: ResidentInDistrict,
    request_id: RequestId,
    body: ResidentPreferences,
    access_token: TokenQuery = None,
) -> Any:
    return await store(ctx, audience.district_id, f"request:{request_id}", body)
