"""HTTP edge of intake: builds the app, wires routes, limits and error shapes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from fastapi import FastAPI

from services.intake import openapi_doc
from services.intake.body_limit import BodySizeLimit
from services.intake.context import IntakeContext
from services.intake.open311.routes import router as open311_router
from services.intake.problems import install, render_limit
from services.intake.reference_cache import DatabaseReferenceSource, ReferenceCache
from services.intake.repository import IntakeRepository
from services.intake.routes import inbound_messages
from services.intake.routes.care import router as care_router
from services.intake.routes.commands import router as commands_router
from services.intake.routes.desk import router as desk_router
from services.intake.routes.reference import router as reference_router
from services.intake.routes.requests import router as requests_router
from services.intake.settings import ApiLimits
from services.intake.volunteer.routes import VolunteerPage
from services.intake.volunteer.routes import router as volunteer_router
from services.intake.volunteer.settings import VolunteerPageSettings
from services.intake.volunteer.sign_in import SignIn
from services.intake.volunteer.store import VolunteerPageStore
from shared.api_keys import ApiKeyRepository
from shared.gateways import MessageGateway, gateway_for
from shared.http_observability import instrument
from shared.kafka import EventPublisher, ensure_topics
from shared.mongo import connect, database, ping
from shared.settings import IntakeSettings

log = logging.getLogger(__name__)

DESCRIPTION = """\
Submit community grid service requests (网格服务), act on them and read their status.

* **Auth**: send an API key in `X-API-Key` (or `Authorization: Bearer`). Each key belongs to one district and
  one role: `client_app`, `operator`, `volunteer`, `district_admin`, `platform_admin`. Another district's
  data answers 404, exactly like data that does not exist.
* **Public without a key**: the menu, the district directory and the Open311 service list.
* **Writes answer 202** once Kafka acknowledged the event; follow the request on notify's `events_url`.
* **Volunteers' phone page**: `/volunteer/` and its JSON under `/volunteer/api/` (sign-in by an SMS code and a
  session cookie instead of a key).
* **Errors** are `application/problem+json` (RFC 9457), except under `/open311/`, which answers the
  GeoReport v2 error list.
"""


def volunteer_page(
    settings: IntakeSettings,
    page: VolunteerPageSettings,
    store: VolunteerPageStore,
    gateway: MessageGateway | None,
) -> VolunteerPage:
    """The volunteer page's wiring, refusing settings that would weaken it outside development."""
    if not page.cookie_secure and not settings.public_url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise ValueError("VOLUNTEER_COOKIE_SECURE=false is only for a page served on http://127.0.0.1")
    # The log adapter writes codes into the log: acceptable on a developer's machine only.
    allowed = gateway is not None or page.gateway != "log" or settings.environment == "development"
    notify_ws = settings.notify_public_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    return VolunteerPage(
        sign_in=SignIn(store, gateway or gateway_for(page.gateway), page, settings.signing_key(), allowed),
        store=store,
        cookie_secure=page.cookie_secure,
        stream_minutes=page.stream_token_minutes,
        notify_ws_url=notify_ws.rstrip("/"),
    )


def create_app(
    settings: IntakeSettings | None = None,
    limits: ApiLimits | None = None,
    *,
    volunteer_settings: VolunteerPageSettings | None = None,
    sign_in_gateway: MessageGateway | None = None,
) -> FastAPI:
    """`sign_in_gateway` replaces the configured SMS adapter for volunteer sign-in codes (tests pass their own)."""
    settings = settings or IntakeSettings()
    limits = limits or ApiLimits()
    client = connect(settings)
    db = database(client, settings)
    repository = IntakeRepository(db)
    reference = ReferenceCache(
        DatabaseReferenceSource(db, ApiKeyRepository(db)),
        check_seconds=limits.reference_check_seconds,
        max_age_seconds=limits.reference_max_age_seconds,
        key_trust_seconds=limits.auth_cache_seconds,
    )
    repository.on_change(reference.changed)
    ctx = IntakeContext(
        repository=repository,
        reference=reference,
        publisher=EventPublisher(settings.kafka_bootstrap, settings.kafka_timeout_seconds),
        topics=settings.topics(),
        id_key=settings.signing_key(),
        previous_id_keys=settings.verification_keys()[1:],
        settings=settings,
        limits=limits,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            await repository.ensure_indexes()
        except Exception as exc:
            log.warning("could not ensure indexes at start-up: %r", exc)
        try:
            await ensure_topics(settings.kafka_bootstrap, ctx.topics, timeout_seconds=settings.kafka_timeout_seconds)
        except Exception as exc:
            # Intake still starts, answering 503 per request, so that clients get a clear reason.
            log.warning("could not ensure Kafka topics at start-up: %r", exc)
        await reference.start()
        yield
        await reference.stop()
        await ctx.publisher.close()
        await client.close()

    app = FastAPI(
        title="Grid Service Platform — intake",
        version="0.2.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.intake = ctx
    app.state.volunteer_page = volunteer_page(
        settings, volunteer_settings or VolunteerPageSettings(), VolunteerPageStore(db), sign_in_gateway
    )
    install(app)
    app.include_router(requests_router)
    app.include_router(commands_router)
    app.include_router(inbound_messages.router)
    app.include_router(care_router)
    app.include_router(reference_router)
    app.include_router(open311_router)
    app.include_router(desk_router)
    app.include_router(volunteer_router)
    app.add_middleware(BodySizeLimit, max_bytes=limits.max_body_bytes)
    openapi_doc.install(app)

    async def readiness() -> dict[str, bool]:
        return {"database": await ping(db)}

    # Intake's per-key limit keeps its own settings (INTAKE_RATE_*); Open311 clients get their error shape.
    rate_limits = replace(
        settings.rate_limits(), per_key_per_second=limits.rate_per_second, key_burst=limits.rate_burst
    )
    instrument(app, "intake", readiness, limits=rate_limits, render_limit=render_limit)
    return app
