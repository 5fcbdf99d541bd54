"""HTTP edge of intake: parse, call a handler, shape the answer."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Header, Path

from services.intake import handlers
from services.intake.problems import PROBLEM_JSON, Problem, install
from services.intake.repository import IntakeRepository
from services.intake.schemas import RequestView, SubmitAccepted, SubmitRequestBody
from shared.contracts.envelope import DISTRICT_ID_PATTERN
from shared.kafka import BrokerUnavailable, EventPublisher, ensure_topics
from shared.mongo import connect, database, ping
from shared.request_ids import issued_by_us
from shared.service_app import add_operational_routes
from shared.settings import IntakeSettings

log = logging.getLogger(__name__)
DistrictId = Annotated[str, Path(pattern=DISTRICT_ID_PATTERN, description="District (tenant) id, e.g. chengzhong")]
RequestId = Annotated[str, Path(min_length=1, max_length=100)]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, description="Retry-safe key: same key, same request"),
]
PROBLEM_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {}}}
    for status, text in {404: "Unknown district or request", 422: "Invalid input", 503: "Kafka unavailable"}.items()
}


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    client = connect(settings)
    db = database(client, settings)
    ctx = handlers.IntakeContext(
        repository=IntakeRepository(db),
        publisher=EventPublisher(settings.kafka_bootstrap, settings.kafka_timeout_seconds),
        topics=settings.topics(),
        id_key=settings.id_signing_key.get_secret_value().encode(),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            await ensure_topics(settings.kafka_bootstrap, ctx.topics, timeout_seconds=settings.kafka_timeout_seconds)
        except Exception as exc:
            # Intake still starts, answering 503 per request, so that clients get a clear reason.
            log.warning("could not ensure Kafka topics at start-up: %r", exc)
        yield
        await ctx.publisher.close()
        await client.close()

    app = FastAPI(
        title="Grid Service Platform — intake",
        version="0.1.0",
        description="Submit community grid service requests and read their status.",
        lifespan=lifespan,
    )
    install(app)

    @app.post(
        "/v1/districts/{district_id}/requests",
        status_code=202,
        response_model=SubmitAccepted,
        responses=PROBLEM_RESPONSES,
        summary="Submit a request from the community menu",
    )
    async def submit(
        district_id: DistrictId, body: SubmitRequestBody, idempotency_key: IdempotencyKey = None
    ) -> SubmitAccepted:
        try:
            request_id = await handlers.submit_request(
                ctx, district_id=district_id, body=body, idempotency_key=idempotency_key
            )
        except BrokerUnavailable as exc:
            raise Problem(
                503,
                "Service unavailable",
                f"the request was not accepted, try again: {exc}",
                code="broker-unavailable",
                headers={"Retry-After": "5"},
            ) from exc
        return SubmitAccepted(
            request_id=request_id,
            status_url=f"{settings.public_url}/v1/districts/{district_id}/requests/{request_id}",
            events_url=f"{settings.notify_public_url}/v1/requests/{request_id}/events",
        )

    @app.get(
        "/v1/districts/{district_id}/requests/{request_id}",
        response_model=RequestView,
        responses=PROBLEM_RESPONSES,
        summary="Current state of a request",
    )
    async def read(district_id: DistrictId, request_id: RequestId) -> RequestView:
        document = await ctx.repository.request(district_id, request_id)
        if document is not None:
            return RequestView(
                request_id=document["_id"],
                district_id=document["district_id"],
                status=document["status"],
                grid_id=document.get("grid_id"),
                menu_item_code=document.get("menu_item_code"),
                assigned_volunteer_id=document.get("assigned_volunteer_id"),
                created_at=document.get("created_at"),
                updated_at=document.get("updated_at"),
                timeline=document.get("timeline", []),
            )
        if issued_by_us(ctx.id_key, district_id, request_id):
            # Accepted by Kafka, not yet processed by dispatch.
            return RequestView(request_id=request_id, district_id=district_id, status="submitted")
        raise Problem(404, "Not found", f"no request {request_id!r} in district {district_id!r}", code="not-found")

    async def readiness() -> dict[str, bool]:
        return {"database": await ping(db)}

    add_operational_routes(app, readiness)
    return app
