"""Notify's HTTP edge: the app, its routers and error shapes; the wiring is in `bootstrap`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.notify.auth import install_denied_handler
from services.notify.bootstrap import bootstrap
from services.notify.resident_fast_path import ResidentStreamFastPath
from services.notify.routes import messages, operator, preferences, resident, volunteer, webhooks
from services.notify.settings import NotifySettings
from shared.http_observability import instrument
from shared.problem_details import install_problem_handlers


def create_app(settings: NotifySettings | None = None) -> FastAPI:
    settings = settings or NotifySettings()
    context = bootstrap(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await context.start()
        yield
        await context.stop()

    app = FastAPI(
        title="Grid Service Platform — notify",
        version="0.2.0",
        description="Live, resumable status of requests as Server-Sent Events and WebSocket; signed webhooks.",
        lifespan=lifespan,
    )
    app.state.notify = context
    for module in (resident, volunteer, operator, webhooks, preferences, messages):
        app.include_router(module.router)
    install_problem_handlers(app)
    install_denied_handler(app)
    # Added first, so inside the rate limits, metrics and security headers that `instrument` adds.
    app.add_middleware(ResidentStreamFastPath, context=context)
    instrument(app, "notify", context.readiness, limits=settings.rate_limits())
    return app
