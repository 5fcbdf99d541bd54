"""Intake's use cases: validate against reference data, then publish and wait for the broker's ack."""

from __future__ import annotations

from dataclasses import dataclass

from services.intake.problems import Problem
from services.intake.repository import IntakeRepository
from services.intake.schemas import SubmitRequestBody
from shared.contracts import REQUEST_SUBMITTED, RequestSubmittedV1, Topics, new_event
from shared.kafka import EventPublisher
from shared.request_ids import mint_request_id


@dataclass(frozen=True)
class IntakeContext:
    repository: IntakeRepository
    publisher: EventPublisher
    topics: Topics
    id_key: bytes


def _unknown(field: str, message: str) -> Problem:
    return Problem(
        422,
        "Invalid request",
        message,
        code="validation",
        errors=[{"field": field, "location": "body", "message": message, "type": "unknown_reference"}],
    )


async def submit_request(
    ctx: IntakeContext, *, district_id: str, body: SubmitRequestBody, idempotency_key: str | None
) -> str:
    """Publish `request.submitted` and return the request id once Kafka has acknowledged it."""
    if not await ctx.repository.district_exists(district_id):
        raise Problem(404, "Not found", f"no district {district_id!r}", code="not-found")
    grid = await ctx.repository.grid(district_id, body.grid_id)
    if grid is None:
        raise _unknown("grid_id", f"grid {body.grid_id!r} does not exist in district {district_id!r}")
    item = await ctx.repository.menu_item(district_id, grid["community_id"], body.menu_item_code)
    if item is None:
        raise _unknown(
            "menu_item_code",
            f"menu item {body.menu_item_code!r} is not on the menu of community {grid['community_id']!r}",
        )
    request_id = mint_request_id(ctx.id_key, district_id, idempotency_key)
    event = new_event(
        event_type=REQUEST_SUBMITTED,
        source="intake",
        district_id=district_id,
        request_id=request_id,
        # The same request id always yields the same event id, so a retried submission is one event.
        event_id=f"{request_id}:submitted",
        data=RequestSubmittedV1(
            menu_item_code=body.menu_item_code,
            grid_id=body.grid_id,
            resident_name=body.resident_name,
            resident_phone=body.resident_phone,
            text=body.text,
        ),
    )
    await ctx.publisher.publish(ctx.topics.requests, event)
    return request_id
