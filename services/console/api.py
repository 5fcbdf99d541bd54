"""Console process: the operators' web page and the JSON it reads, scoped to the operator key's district."""

# No `from __future__ import annotations` here: FastAPI must resolve the local `Caller` alias eagerly.

import csv
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Header, Query
from fastapi import Path as FastApiPath
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from services.console import kafka_health
from services.console.intake_gateway import ACTION_PATHS, ActionName, IntakeGateway
from services.console.rates import GroupBy, compute_rates
from services.console.repository import ConsoleRepository
from services.console.settings import ConsoleSettings
from shared.api_keys import ApiKeyRepository, Principal, Role
from shared.http_observability import instrument
from shared.mongo import connect, database, ping
from shared.problem_details import Problem, install_problem_handlers
from shared.security_headers import PAGE_HEADERS
from shared.spreadsheet_cells import neutralise_row
from shared.time_bounds import BoundedDatetime

STATIC = Path(__file__).parent / "static"
# Ids are forwarded into intake's paths: one plain segment each, never "." or "..".
SafeId = Annotated[str, FastApiPath(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_.:-]{0,99}$")]
CONSOLE_ROLES = {Role.OPERATOR, Role.DISTRICT_ADMIN, Role.PLATFORM_ADMIN}


def _problem(status: int, detail: str, code: str) -> Problem:
    return Problem(status, detail, detail, code=code)


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _jsonable(document: dict[str, Any], id_field: str = "request_id") -> dict[str, Any]:
    return {(id_field if key == "_id" else key): _iso(value) for key, value in document.items()}


def create_app(settings: ConsoleSettings | None = None) -> FastAPI:
    settings = settings or ConsoleSettings()
    topics = settings.topics()
    client = connect(settings)
    db = database(client, settings)
    repository = ConsoleRepository(db)
    keys = ApiKeyRepository(db)
    intake = IntakeGateway(settings.intake_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await intake.close()
        await client.close()

    app = FastAPI(
        title="Grid Service Platform — operator console",
        version="0.1.0",
        description="Live queues, SLA countdowns, the three rates and system health for one district.",
        lifespan=lifespan,
    )

    install_problem_handlers(app)

    async def operator(
        authorization: Annotated[str | None, Header()] = None,
        x_api_key: Annotated[str | None, Header()] = None,
        district: Annotated[str | None, Query(max_length=64, description="platform_admin only")] = None,
    ) -> tuple[Principal, str, str]:
        plaintext = x_api_key or (authorization or "").removeprefix("Bearer ").strip()
        principal = await keys.authenticate(plaintext) if plaintext else None
        if principal is None:
            raise _problem(401, "an operator API key is required", "unauthenticated")
        if principal.role not in CONSOLE_ROLES:
            raise _problem(403, f"role {principal.role.value} cannot use the console", "forbidden")
        district_id = principal.district_id or district
        if district_id is None:
            raise _problem(422, "platform_admin keys must choose a district", "district-required")
        return principal, district_id, plaintext

    Caller = Annotated[tuple[Principal, str, str], Depends(operator)]

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    @app.get("/console/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/console/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/console/api/me")
    async def me(caller: Caller) -> dict[str, Any]:
        principal, district_id, _ = caller
        district = await repository.district(district_id) or {"_id": district_id}
        return {
            "role": principal.role.value,
            "key_id": principal.key_id,
            "district": _jsonable(district, "district_id"),
        }

    @app.get("/console/api/board")
    async def board(caller: Caller) -> dict[str, Any]:
        _, district_id, _ = caller
        now = datetime.now(UTC)
        requests = [_jsonable(r) for r in await repository.open_requests(district_id)]
        for request in requests:
            due = request.get("sla_due_at")
            request["overdue"] = isinstance(due, str) and datetime.fromisoformat(due) < now
        volunteers = await repository.volunteers(district_id)
        load_per_grid: dict[str, int] = {}
        for request in requests:
            grid = request.get("grid_id") or "unknown"
            load_per_grid[grid] = load_per_grid.get(grid, 0) + 1
        return {
            "now": now.isoformat(),
            "counts": await repository.status_counts(district_id),
            "requests": requests,
            "load_per_grid": [{"grid_id": g, "open": n} for g, n in sorted(load_per_grid.items())],
            "volunteers": [_jsonable(v, "volunteer_id") for v in volunteers],
        }

    @app.get("/console/api/requests/{request_id}")
    async def detail(caller: Caller, request_id: str) -> dict[str, Any]:
        _, district_id, _ = caller
        document = await repository.request(district_id, request_id)
        if document is None:
            raise _problem(404, f"no request {request_id!r} in this district", "not-found")
        return _jsonable(document)

    @app.post("/console/api/requests/{request_id}/actions/{action}", status_code=202)
    async def act(caller: Caller, request_id: SafeId, action: ActionName, body: dict[str, Any]) -> Response:
        """Reassign, escalate, close, cancel or change priority: intake validates and publishes the command."""
        _, district_id, key = caller
        path = f"/v1/districts/{district_id}/requests/{request_id}/{ACTION_PATHS[action]}"
        return await intake.forward("POST", path, api_key=key, body=body)

    @app.post("/console/api/requests", status_code=202)
    async def submit(caller: Caller, body: dict[str, Any]) -> Response:
        """File a request on a resident's behalf (a phone number is enough), through intake."""
        _, district_id, key = caller
        return await intake.forward("POST", f"/v1/districts/{district_id}/requests", api_key=key, body=body)

    @app.get("/console/api/directory")
    async def directory(caller: Caller) -> Response:
        _, district_id, key = caller
        return await intake.forward("GET", f"/v1/districts/{district_id}/directory", api_key=key)

    @app.get("/console/api/grids/{grid_id}/menu")
    async def grid_menu(caller: Caller, grid_id: SafeId) -> Response:
        _, district_id, key = caller
        return await intake.forward("GET", f"/v1/districts/{district_id}/grids/{grid_id}/menu", api_key=key)

    @app.get(
        "/console/api/rates",
        response_model=None,
        responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON or CSV"}},
    )
    async def rates(
        caller: Caller,
        group_by: GroupBy = "community",
        start: BoundedDatetime | None = None,
        end: BoundedDatetime | None = None,
        format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
    ) -> Response | dict[str, Any]:
        _, district_id, _ = caller
        end = end or datetime.now(UTC)
        start = start or end - timedelta(days=30)
        if start.tzinfo is None or end.tzinfo is None:
            start, end = start.replace(tzinfo=start.tzinfo or UTC), end.replace(tzinfo=end.tzinfo or UTC)
        if start >= end:
            raise _problem(422, "start must be before end", "validation")
        rows = [
            r.as_row()
            for r in compute_rates(
                await repository.requests_submitted_between(district_id, start, end),
                group_by=group_by,
                start=start,
                end=end,
            )
        ]
        if format == "csv":
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["group"])
            writer.writeheader()
            writer.writerows(neutralise_row(row) for row in rows)
            filename = f"rates-{district_id}-{group_by}-{start.date()}-{end.date()}.csv"
            return Response(
                buffer.getvalue(),
                media_type="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )
        return {"group_by": group_by, "start": start.isoformat(), "end": end.isoformat(), "rows": rows}

    @app.get("/console/api/health")
    async def health(caller: Caller) -> dict[str, Any]:
        _, district_id, _ = caller
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
        services["console"] = await ping(db)
        try:
            kafka = await kafka_health.read_health(
                settings.kafka_bootstrap,
                topics,
                # dispatch is one group, and so is notify (its replicas share webhooks and messages).
                [settings.group(settings.dispatch_group), settings.group(settings.notify_group)],
            )
            lag = [{"group": p.group, "topic": p.topic, "partition": p.partition, "lag": p.lag} for p in kafka.lags]
            dead_letters: int | None = kafka.dead_letters
        except Exception:  # the board must still show what it can when Kafka is down
            lag, dead_letters = [], None
            services["kafka"] = False
        parked = await repository.count("webhook_deliveries", {"district_id": district_id, "state": "parked"})
        return {"services": services, "consumer_lag": lag, "dead_letters": dead_letters, "parked_webhooks": parked}

    async def readiness() -> dict[str, bool]:
        return {"database": await ping(db)}

    instrument(app, "console", readiness, limits=settings.rate_limits(), page_headers=PAGE_HEADERS)
    return app
