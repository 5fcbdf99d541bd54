"""System health for the operator: services' readiness, consumer lag, dead letters, parked webhooks."""

# No `from __future__ import annotations` here: FastAPI must resolve the dependency aliases eagerly.

from typing import Any

import httpx
from fastapi import APIRouter

from services.console import kafka_health
from services.console.auth import Caller, Ctx
from shared.mongo import ping

router = APIRouter(prefix="/console/api", tags=["health"])


@router.get("/health")
async def health(ctx: Ctx, caller: Caller) -> dict[str, Any]:
    settings = ctx.settings
    services: dict[str, bool] = {}
    async with httpx.AsyncClient(timeout=2) as http:
        for name, url in [
            ("intake", settings.intake_url),
            ("dispatch", settings.dispatch_url),
            ("notify", settings.notify_url),
        ]:
            try:
                services[name] = (await http.get(f"{url}/readyz")).status_code == 200
            except httpx.HTTPError:
                services[name] = False
    services["console"] = await ping(ctx.db)
    try:
        kafka = await kafka_health.read_health(
            settings.kafka_bootstrap,
            settings.topics(),
            # dispatch is one group; notify's webhooks and messages are one group too (its streams follow the
            # log without a group).
            [settings.group(settings.dispatch_group), settings.group(settings.notify_group)],
        )
        lag = [{"group": p.group, "topic": p.topic, "partition": p.partition, "lag": p.lag} for p in kafka.lags]
        dead_letters: int | None = kafka.dead_letters
    except Exception:  # the board must still show what it can when Kafka is down
        lag, dead_letters = [], None
        services["kafka"] = False
    parked = await ctx.repository.count("webhook_deliveries", {"district_id": caller.district_id, "state": "parked"})
    return {"services": services, "consumer_lag": lag, "dead_letters": dead_letters, "parked_webhooks": parked}
