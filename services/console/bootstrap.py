"""The console's one place of wiring: settings → database, key store, intake gateway, notify stream → routers → app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from services.console.context import ConsoleContext
from services.console.intake_gateway import IntakeGateway
from services.console.notify_stream import NotifyStream
from services.console.repository import ConsoleRepository
from services.console.routes import board, care, desk, directory, events, health, page, rates, requests
from services.console.settings import ConsoleSettings
from shared.api_keys import ApiKeyRepository
from shared.http_observability import instrument
from shared.mongo import connect, database, ping
from shared.problem_details import install_problem_handlers
from shared.security_headers import PAGE_HEADERS

ROUTERS = (
    page.router,
    board.router,
    events.router,
    requests.router,
    directory.router,
    rates.router,
    health.router,
    desk.router,
    care.router,
)


def create_app(settings: ConsoleSettings | None = None) -> FastAPI:
    settings = settings or ConsoleSettings()
    client = connect(settings)
    db = database(client, settings)
    context = ConsoleContext(
        settings=settings,
        db=db,
        repository=ConsoleRepository(db),
        keys=ApiKeyRepository(db),
        intake=IntakeGateway(settings.intake_url),
        notify=NotifyStream(settings.notify_url, idle_seconds=settings.stream_idle_seconds),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await context.intake.close()
        await context.notify.close()
        await client.close()

    app = FastAPI(
        title="Grid Service Platform — operator console",
        version="0.1.0",
        description="Live queues, SLA countdowns, the three rates and system health for one district.",
        lifespan=lifespan,
    )
    app.state.console = context
    install_problem_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=page.STATIC), name="static")

    async def readiness() -> dict[str, bool]:
        return {"database": await ping(db)}

    instrument(app, "console", readiness, limits=settings.rate_limits(), page_headers=PAGE_HEADERS)
    return app
