"""Client apps and district admins register signed webhooks, list their deliveries and replay parked ones.

Every route takes `WebhookOwner` and passes it to every repository call: a client app's key reaches only
the endpoints it registered itself (another's reads as absent), an admin's key every endpoint.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from services.notify.auth import Ctx, Denied, DistrictId, WebhookCreator, WebhookOwner
from services.notify.domain.targets import RefusedTarget
from services.notify.schemas import (
    DeliveryRead,
    Replayed,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    known_event_types,
)
from services.notify.webhooks import check_target
from shared.mongo import Document

router = APIRouter(prefix="/v1/districts/{district_id}/webhooks", tags=["webhooks"])
DeliveryState = Annotated[str | None, Query(pattern="^(pending|delivering|delivered|parked)$")]
DELIVERY_FIELDS = ("event_id", "event_type", "state", "attempts", "next_attempt_at", "last_status", "last_error")


def webhook_read(document: Document) -> dict[str, Any]:
    return {
        **{k: document[k] for k in ("district_id", "url", "event_types", "description", "created_at")},
        "id": document["_id"],
    }


def no_such_endpoint() -> Denied:
    return Denied(404, "not-found", "no such webhook endpoint")


async def owned_endpoint(ctx: Ctx, district_id: str, endpoint_id: str, owner: str | None) -> Document:
    endpoint = await ctx.endpoints.get(district_id, endpoint_id, owner=owner)
    if endpoint is None:
        raise no_such_endpoint()
    return endpoint


@router.post("", status_code=201, response_model=WebhookCreated, summary="Register a webhook endpoint")
async def create_webhook(ctx: Ctx, caller: WebhookCreator, district_id: DistrictId, body: WebhookCreate) -> Any:
    unknown = known_event_types(body.event_types)
    if unknown:
        raise Denied(422, "unknown-event-type", f"unknown event types: {', '.join(unknown)}")
    try:
        await check_target(body.url, allow_loopback=ctx.settings.webhook_allow_loopback)
    except RefusedTarget as exc:
        raise Denied(422, "refused-url", str(exc)) from exc
    document = await ctx.endpoints.create(
        district_id=district_id,
        url=body.url,
        event_types=body.event_types,
        description=body.description,
        created_by=f"{caller.role.value}:{caller.subject}",
        owner_key_id=caller.key_id,
    )
    return {**webhook_read(document), "secret": document["secret"]}


@router.get("", response_model=list[WebhookRead], summary="List webhook endpoints")
async def list_webhooks(ctx: Ctx, owner: WebhookOwner, district_id: DistrictId) -> Any:
    return [webhook_read(document) for document in await ctx.endpoints.active(district_id, owner=owner)]


@router.delete("/{endpoint_id}", status_code=204, summary="Remove a webhook endpoint")
async def delete_webhook(ctx: Ctx, owner: WebhookOwner, district_id: DistrictId, endpoint_id: str) -> Response:
    if not await ctx.endpoints.deactivate(district_id, endpoint_id, owner=owner):
        raise no_such_endpoint()
    return Response(status_code=204)


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=list[DeliveryRead],
    summary="List deliveries of an endpoint (state=parked for the parked ones)",
)
async def list_deliveries(
    ctx: Ctx, owner: WebhookOwner, district_id: DistrictId, endpoint_id: str, state: DeliveryState = None
) -> Any:
    await owned_endpoint(ctx, district_id, endpoint_id, owner)
    return [
        {**{k: d.get(k) for k in DELIVERY_FIELDS}, "id": d["_id"]}
        for d in await ctx.deliveries.of_endpoint(district_id, endpoint_id, state)
    ]


async def replay(ctx: Ctx, district_id: str, endpoint_id: str, delivery_id: str | None, owner: str | None) -> Replayed:
    await owned_endpoint(ctx, district_id, endpoint_id, owner)
    replayed = await ctx.deliveries.replay(district_id, endpoint_id, delivery_id)
    for delivery in replayed:
        ctx.worker.submit(delivery)
    return Replayed(replayed=len(replayed))


@router.post("/{endpoint_id}/deliveries/replay", response_model=Replayed, summary="Replay every parked delivery")
async def replay_parked(ctx: Ctx, owner: WebhookOwner, district_id: DistrictId, endpoint_id: str) -> Any:
    return await replay(ctx, district_id, endpoint_id, None, owner)


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/replay", response_model=Replayed, summary="Replay one parked delivery"
)
async def replay_one(ctx: Ctx, owner: WebhookOwner, district_id: DistrictId, endpoint_id: str, delivery_id: str) -> Any:
    return await replay(ctx, district_id, endpoint_id, delivery_id, owner)
