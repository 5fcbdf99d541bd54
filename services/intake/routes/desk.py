"""The hotline desk: look a caller up by phone. Filing, ratings, "not done" and notes taken on the phone use
the usual submission and command endpoints (operators may send a resident's commands on their behalf)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query

from services.intake import desk, handlers
from services.intake.auth import STAFF, Ctx, DistrictScope
from services.intake.routes.shared_params import problems
from shared.masking import mask_phone
from shared.mongo import Document
from shared.phone_numbers import InvalidPhoneNumber, normalise

router = APIRouter(tags=["desk"])


@router.get(
    "/v1/districts/{district_id}/desk/callers",
    response_model=desk.CallerLookup,
    responses=problems(401, 403, 404, 422, 429),
    summary="Look a caller up by phone: their households (or those they are the proxy of) and recent requests",
    description="Staff only. Households whose phone or whose proxy's phone this is, masked, each with its "
    f"latest {desk.RECENT_REQUESTS_SHOWN} requests; plus requests filed with this phone for no known household.",
)
async def look_up_caller(
    scope: DistrictScope,
    ctx: Ctx,
    phone: Annotated[str, Query(min_length=3, max_length=32, description="The caller's number, any format")],
) -> desk.CallerLookup:
    scope.require(*STAFF)
    try:
        e164 = normalise(phone)
    except InvalidPhoneNumber as exc:
        raise handlers.invalid("phone", str(exc), "value_error", "query") from exc
    district_id, repository = scope.district_id, ctx.repository
    residents = await repository.households_of_phone(district_id, e164, desk.HOUSEHOLDS_LISTED)
    with_requests = residents[: desk.HOUSEHOLDS_WITH_REQUESTS]
    per_household, by_phone = await asyncio.gather(
        asyncio.gather(
            *(
                repository.requests_of_resident(district_id, r["_id"], desk.REQUESTS_READ_PER_HOUSEHOLD)
                for r in with_requests
            )
        ),
        repository.requests_with_phone(district_id, e164, desk.REQUESTS_READ_PER_HOUSEHOLD),
    )
    by_phone = desk.without_household(by_phone)
    requests_of = {r["_id"]: found for r, found in zip(with_requests, per_household, strict=True)}
    items: dict[str, Document] = {}
    for request in [*by_phone, *(d for found in per_household for d in found)]:
        key = desk.menu_item_key(request)
        if key not in items:
            community_id, _, code = key.partition(":")
            items[key] = await ctx.reference.menu_item(district_id, community_id, code) or {}
    matches = [
        desk.household_match(
            resident,
            caller_phone=e164,
            grid=await ctx.reference.grid(district_id, str(resident.get("grid_id") or "")),
            requests=requests_of.get(resident["_id"], []),
            item_names=items,
        )
        for resident in residents
    ]
    return desk.CallerLookup(
        phone=mask_phone(e164), households=desk.ordered(matches), requests_by_phone=desk.recent(by_phone, items)
    )
