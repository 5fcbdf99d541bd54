"""Intake's use cases: validate against reference data, then publish and wait for the broker's ack."""

from __future__ import annotations

import hashlib
import hmac
import uuid

from pydantic import BaseModel

from services.intake import idempotency
from services.intake.attributes import validate_answers
from services.intake.auth import Scope
from services.intake.context import IntakeContext
from services.intake.problems import Problem
from services.intake.schemas import SubmitRequestBody
from shared.api_keys import Role
from shared.contracts import REQUEST_SUBMITTED, RequestSubmittedV1, RequestSubmittedV2, new_event
from shared.contracts.commands import COMMAND_PAYLOADS, Actor
from shared.mongo import Document
from shared.phone_numbers import mask
from shared.request_ids import mint_request_id

__all__ = ["IntakeContext", "publish_command", "submit_request"]


def invalid(field: str, message: str, kind: str = "unknown_reference", location: str = "body") -> Problem:
    return Problem(
        422,
        "Invalid request",
        f"{field}: {message}",
        code="validation",
        errors=[{"field": field, "location": location, "message": message, "type": kind}],
    )


def actor_of(scope: Scope) -> Actor:
    role = scope.role.value
    return Actor(role=role, subject=scope.principal.subject if scope.role is Role.VOLUNTEER else scope.principal.key_id)


async def submit_request(
    ctx: IntakeContext,
    *,
    scope: Scope,
    body: SubmitRequestBody,
    idempotency_key: str | None,
    name_optional: bool = False,
) -> str:
    """Publish `request.submitted` and return the request id once Kafka has acknowledged it."""
    district_id = scope.district_id
    grid = await ctx.reference.grid(district_id, body.grid_id)
    if grid is None:
        raise invalid("grid_id", f"grid {body.grid_id!r} does not exist in district {district_id!r}")
    item = await ctx.reference.menu_item(district_id, grid["community_id"], body.menu_item_code)
    if item is None or item.get("active") is False:
        raise invalid(
            "menu_item_code",
            f"menu item {body.menu_item_code!r} is not on the menu of community {grid['community_id']!r}",
        )
    answers, problems = validate_answers(item.get("attributes", []), body.attributes)
    if problems:
        errors = [
            {"field": f"attributes.{p.code}", "location": "body", "message": p.message, "type": "attribute"}
            for p in problems
        ]
        fields = ", ".join(e["field"] for e in errors)
        raise Problem(422, "Invalid request", f"check these fields: {fields}", code="validation", errors=errors)
    staff = scope.role in (Role.OPERATOR, Role.DISTRICT_ADMIN, Role.PLATFORM_ADMIN)
    if body.priority is not None and not staff:
        raise invalid("priority", "only operators set a priority; the menu item's urgency applies", "forbidden")
    resident = await _household(ctx, scope, body, staff=staff)
    phone = body.resident_phone or resident.get("phone")
    name = body.resident_name or resident.get("name")
    if not name:
        if not (staff or name_optional):
            raise invalid("resident_name", "Field required", "missing")
        name = f"居民 {phone[-4:]}" if phone else "居民"
    await idempotency.check(
        ctx.repository,
        district_id=district_id,
        api_key_id=scope.principal.key_id,
        operation=idempotency.SUBMIT,
        idempotency_key=idempotency_key,
        payload=body.model_dump(mode="json"),
    )
    # Scoped by key so that two apps choosing the same Idempotency-Key never share a request.
    scoped_key = None if idempotency_key is None else f"{scope.principal.key_id}|{idempotency_key}"
    request_id = mint_request_id(ctx.id_key, district_id, scoped_key)
    event = new_event(
        event_type=REQUEST_SUBMITTED,
        source="intake",
        district_id=district_id,
        request_id=request_id,
        # The same request id always yields the same event id, so a retried submission is one event.
        event_id=f"{request_id}:submitted",
        # V1 whenever there is a phone: a dispatch that knows only V1 still handles it (contracts/requests.py).
        schema_version=1 if phone else 2,
        data=(RequestSubmittedV1 if phone else RequestSubmittedV2)(
            menu_item_code=body.menu_item_code,
            grid_id=body.grid_id,
            resident_name=name,
            resident_phone=phone,
            text=body.text,
            community_id=grid["community_id"],
            street_office_id=grid.get("street_office_id"),
            resident_id=resident.get("_id"),
            resident_language=body.resident_language or resident.get("language"),
            linked_heart_volunteer_id=resident.get("linked_volunteer_id") or resident.get("linked_heart_volunteer_id"),
            priority=body.priority or item.get("urgency", "normal"),
            attributes=answers,
            submitted_by=actor_of(scope),
        ),
    )
    await ctx.publisher.publish(ctx.topics.requests, event)
    return request_id


async def _household(ctx: IntakeContext, scope: Scope, body: SubmitRequestBody, *, staff: bool) -> Document:
    """The resident record the submission is for: named by `resident_id` (operators), or found by the phone;
    empty when neither names one. A 422 when the named household is not one of the grid's."""
    if body.resident_id is None:
        if body.resident_phone is None:
            raise invalid("resident_phone", "Field required (or name the household by resident_id)", "missing")
        return await ctx.reference.resident_by_phone(scope.district_id, body.resident_phone) or {}
    if not staff:
        raise invalid("resident_id", "only operators file for a household by its id", "forbidden")
    resident = await ctx.reference.resident(scope.district_id, body.resident_id)
    if resident is None or resident.get("grid_id") != body.grid_id:
        # The same answer whether the id is unknown or lives in another grid or district.
        raise invalid("resident_id", f"no household {body.resident_id!r} in grid {body.grid_id!r}")
    return resident


def command_event_id(
    ctx: IntakeContext, request_id: str, command_type: str, idempotency_key: str | None, api_key_id: str
) -> str:
    """Random, or derived from the caller's key and its Idempotency-Key so that a retried command is one
    event, while two callers choosing the same Idempotency-Key stay two commands."""
    if idempotency_key is None:
        return f"{request_id}:{command_type}:{uuid.uuid4().hex}"
    seed = f"{request_id}|{command_type}|{api_key_id}|{idempotency_key}"
    digest = hmac.new(ctx.id_key, seed.encode(), hashlib.sha256)
    return f"{request_id}:{command_type}:{digest.hexdigest()[:24]}"


async def publish_command(
    ctx: IntakeContext,
    *,
    district_id: str,
    request_id: str,
    command_type: str,
    payload: BaseModel,
    idempotency_key: str | None,
    api_key_id: str,
) -> str:
    """Publish one command envelope keyed by request id; return its event id after the broker's ack."""
    model = COMMAND_PAYLOADS[command_type]
    data = model.model_validate(payload.model_dump())
    await idempotency.check(
        ctx.repository,
        district_id=district_id,
        api_key_id=api_key_id,
        operation=f"{request_id}|{command_type}",
        idempotency_key=idempotency_key,
        payload=data.model_dump(mode="json", exclude={"actor"}),
    )
    event_id = command_event_id(ctx, request_id, command_type, idempotency_key, api_key_id)
    event = new_event(
        event_type=command_type,
        source="intake",
        district_id=district_id,
        request_id=request_id,
        event_id=event_id,
        data=data,
    )
    await ctx.publisher.publish(ctx.topics.requests, event)
    return event_id


def resident_actor(phone: str | None, key_id: str) -> Actor:
    return Actor(role="resident", subject=mask(phone) if phone else key_id)


ON_BEHALF_OF_RESIDENT = " on behalf of the resident"


def on_behalf_of_resident(scope: Scope) -> Actor:
    """An operator sending a resident's command (taken on the phone at the desk)."""
    return Actor(role=scope.role.value, subject=f"{scope.principal.key_id}{ON_BEHALF_OF_RESIDENT}")
