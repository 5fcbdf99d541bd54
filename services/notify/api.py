"""Notify process: consume status events, store them, stream them (SSE and WebSocket), deliver webhooks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, Any

from fastapi import FastAPI, Header, Path, Query, Request, WebSocket
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import Gauge
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketDisconnect

from services.notify.auth import (
    OPERATOR_ROLES,
    WEBHOOK_ROLES,
    WS_PROTOCOL,
    Denied,
    district_principal,
    offered_protocols,
    principal,
    resident_district,
    volunteer_stream_grant,
    webhook_manager,
)
from services.notify.domain.audiences import DistrictScope, RequestScope, Scope, VolunteerScope
from services.notify.domain.resume import MAX_POSITION, parse_cursor
from services.notify.domain.targets import RefusedTarget
from services.notify.feed import FeedHub
from services.notify.handlers import handle_status_event
from services.notify.messaging import PreferenceRepository, PushNotifier
from services.notify.repository import StatusEventRepository
from services.notify.schemas import (
    DeliveryRead,
    PreferencesRead,
    Replayed,
    ResidentPreferences,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    known_event_types,
)
from services.notify.settings import NotifySettings
from services.notify.start_position import StartInHistoryWindow
from services.notify.streams import StreamItem, sse_text, stream_items
from services.notify.webhook_store import DeliveryRepository, WebhookEndpointRepository
from services.notify.webhooks import WebhookWorker, check_target
from shared.api_keys import ApiKeyRepository, Role
from shared.consumer_loop import ConsumerStats, consume_forever
from shared.contracts import EventEnvelope
from shared.gateways import gateway_for
from shared.http_observability import instrument
from shared.kafka import EventPublisher, ensure_topics, manual_commit_consumer
from shared.masking import mask_phone
from shared.mongo import Document, connect, database, ping
from shared.problem_details import install_problem_handlers, problem_response

log = logging.getLogger(__name__)
OPEN_STREAMS = Gauge("notify_open_streams", "Open SSE and WebSocket streams on this replica")
STREAM_REPLAYS = Gauge("notify_stream_replays", "Streams waiting for or reading their history on this replica")
CONSUMER_LAG = Gauge("notify_consumer_lag", "Status events not yet stored by this replica")
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
RequestId = Annotated[str, Path(min_length=1, max_length=100)]
DistrictId = Annotated[str, Path(min_length=1, max_length=63)]
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=200)]
After = Annotated[
    int | None, Query(ge=0, le=MAX_POSITION, description="Resume after this position (the `id` of the last event)")
]
TokenQuery = Annotated[str | None, Query(description="The request's access token (or header X-Access-Token)")]


def problem(denied: Denied) -> JSONResponse:
    return problem_response(denied.status, denied.code, denied.detail, code=denied.code)


def split_values(values: list[str] | None) -> frozenset[str]:
    return frozenset(part for value in values or [] for part in value.split(",") if part)


def webhook_read(document: Document) -> dict[str, Any]:
    return {
        **{k: document[k] for k in ("district_id", "url", "event_types", "description", "created_at")},
        "id": document["_id"],
    }


def create_app(settings: NotifySettings | None = None) -> FastAPI:
    settings = settings or NotifySettings()
    topics = settings.topics()
    signing_keys = settings.verification_keys()
    client = connect(settings)
    db = database(client, settings)
    events = StatusEventRepository(db)
    keys = ApiKeyRepository(db)
    endpoints = WebhookEndpointRepository(db)
    deliveries = DeliveryRepository(db)
    preferences = PreferenceRepository(db)
    notifier = PushNotifier(db, preferences, gateway_for(settings.sms_gateway))
    hub = FeedHub(events, gap_timeout=settings.gap_timeout_seconds, poll_seconds=settings.poll_seconds)
    OPEN_STREAMS.set_function(lambda: hub.connections)
    STREAM_REPLAYS.set_function(lambda: hub.replaying)
    publisher = EventPublisher(settings.kafka_bootstrap, settings.kafka_timeout_seconds)
    stats = ConsumerStats()
    CONSUMER_LAG.set_function(lambda: stats.lag)
    tasks: list[asyncio.Task[None]] = []
    worker_box: list[WebhookWorker] = []

    async def handle(envelope: EventEnvelope) -> None:
        await handle_status_event(
            envelope,
            events=events,
            hub=hub,
            endpoints=endpoints,
            deliveries=deliveries,
            worker=worker_box[0],
            notifier=notifier,
        )

    async def sweep_forever() -> None:
        retention = timedelta(hours=settings.history_hours)
        while True:
            try:
                removed = await events.expire(retention)
                removed += await deliveries.expire(retention)
                if removed:
                    log.info("expired %d stored events and deliveries older than %s", removed, retention)
            except Exception:
                log.exception("expiry sweep failed; next round retries")
            await asyncio.sleep(settings.sweep_seconds)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await events.ensure_indexes()
        await endpoints.ensure_indexes()
        await deliveries.ensure_indexes()
        await ensure_topics(settings.kafka_bootstrap, topics)
        worker = WebhookWorker(endpoints=endpoints, deliveries=deliveries, settings=settings)
        worker_box.append(worker)
        group = settings.group(f"{settings.consumer_group}-{settings.instance_id}")
        consumer = manual_commit_consumer(settings.kafka_bootstrap, topics.status, group)
        # Never before the history window: a new replica id would otherwise store expired events again.
        history = timedelta(hours=settings.history_hours)
        consumer.subscribe([topics.status], listener=StartInHistoryWindow(consumer, history))
        await consumer.start()
        log.info("consuming %s in group %s", topics.status, group)
        consuming = consume_forever(
            consumer, handle, publisher=publisher, dead_letter_topic=topics.dead_letter, stats=stats
        )
        tasks.append(asyncio.create_task(consuming, name="notify-consumer"))
        tasks.append(asyncio.create_task(worker.run(), name="notify-webhooks"))
        tasks.append(asyncio.create_task(sweep_forever(), name="notify-sweep"))
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await hub.close()
        await worker.close()
        await consumer.stop()
        await publisher.close()
        await client.close()

    app = FastAPI(
        title="Grid Service Platform — notify",
        version="0.2.0",
        description="Live, resumable status of requests as Server-Sent Events and WebSocket; signed webhooks.",
        lifespan=lifespan,
    )

    def items(district_id: str, scope: Scope, cursor: int | None) -> AsyncIterator[StreamItem]:
        return stream_items(
            hub=hub,
            repository=events,
            district_id=district_id,
            scope=scope,
            cursor=cursor,
            heartbeat_seconds=settings.heartbeat_seconds,
            queue_size=settings.client_queue_size,
        )

    async def sse(resolve: Callable[[], Awaitable[tuple[str, Scope]]], cursor: int | None, greeting: str) -> Response:
        try:
            district_id, scope = await resolve()
        except Denied as denied:
            return problem(denied)
        return StreamingResponse(
            sse_text(items(district_id, scope, cursor), greeting), media_type="text/event-stream", headers=SSE_HEADERS
        )

    async def websocket_stream(
        websocket: WebSocket, resolve: Callable[[], Awaitable[tuple[str, Scope]]], cursor: int | None
    ) -> None:
        try:
            district_id, scope = await resolve()
        except Denied as denied:
            await websocket.close(code=4000 + denied.status, reason=denied.detail[:120])
            return
        # A browser that offered subprotocols drops the connection unless one is chosen.
        await websocket.accept(subprotocol=WS_PROTOCOL if WS_PROTOCOL in offered_protocols(websocket) else None)

        async def send_all() -> None:
            async for item in items(district_id, scope, cursor):
                await websocket.send_text(item.ws())

        async def until_closed() -> None:
            with contextlib.suppress(WebSocketDisconnect):
                while True:
                    await websocket.receive_text()

        sender = asyncio.create_task(send_all())
        listener = asyncio.create_task(until_closed())
        done, pending = await asyncio.wait({sender, listener}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if sender in done:
            with contextlib.suppress(Exception):
                await websocket.close(code=1000 if sender.exception() is None else 1011)

    def resident(
        connection: HTTPConnection, request_id: str, district_id: str | None
    ) -> Callable[[], Awaitable[tuple[str, Scope]]]:
        async def resolve() -> tuple[str, Scope]:
            district = await resident_district(
                connection,
                signing_keys=signing_keys,
                request_id=request_id,
                district_id=district_id,
                db=db,
                events=events,
            )
            return district, RequestScope(request_id)

        return resolve

    def volunteer(connection: HTTPConnection) -> Callable[[], Awaitable[tuple[str, Scope]]]:
        async def resolve() -> tuple[str, Scope]:
            grant = volunteer_stream_grant(connection, signing_keys)  # the phone page's token (intake mints it)
            if grant is not None:
                return grant.district_id, VolunteerScope(grant.volunteer_id)
            found = await principal(connection, keys, frozenset({Role.VOLUNTEER}))
            assert found.district_id is not None
            return found.district_id, VolunteerScope(found.subject)

        return resolve

    def operator(
        connection: HTTPConnection,
        district_id: str,
        community: list[str] | None,
        grid: list[str] | None,
        status: list[str] | None,
    ) -> Callable[[], Awaitable[tuple[str, Scope]]]:
        async def resolve() -> tuple[str, Scope]:
            await district_principal(connection, keys, OPERATOR_ROLES, district_id)
            return district_id, DistrictScope(split_values(community), split_values(grid), split_values(status))

        return resolve

    stream_doc = "text/event-stream; each event's `id` is its position: reconnect with Last-Event-ID or ?after="

    @app.get(
        "/v1/districts/{district_id}/requests/{request_id}/events",
        summary="Resident: follow one request (SSE)",
        description=stream_doc,
    )
    async def resident_events(
        request: Request,
        district_id: DistrictId,
        request_id: RequestId,
        access_token: TokenQuery = None,
        last_event_id: LastEventId = None,
        after: After = None,
    ) -> Response:
        cursor = parse_cursor(last_event_id, after)
        return await sse(resident(request, request_id, district_id), cursor, f"request {request_id}")

    @app.get(
        "/v1/requests/{request_id}/events",
        summary="Resident: follow one request (SSE; district found from the id)",
        description=stream_doc,
    )
    async def resident_events_short(
        request: Request,
        request_id: RequestId,
        access_token: TokenQuery = None,
        last_event_id: LastEventId = None,
        after: After = None,
    ) -> Response:
        return await sse(
            resident(request, request_id, None), parse_cursor(last_event_id, after), f"request {request_id}"
        )

    @app.get("/v1/volunteers/me/events", summary="Volunteer: own offers and assignments (SSE)", description=stream_doc)
    async def volunteer_events(request: Request, last_event_id: LastEventId = None, after: After = None) -> Response:
        return await sse(volunteer(request), parse_cursor(last_event_id, after), "volunteer")

    @app.get(
        "/v1/districts/{district_id}/events",
        summary="Operator: every status change of the district (SSE)",
        description=stream_doc,
    )
    async def district_events(
        request: Request,
        district_id: DistrictId,
        last_event_id: LastEventId = None,
        after: After = None,
        community_id: Annotated[list[str] | None, Query()] = None,
        grid_id: Annotated[list[str] | None, Query()] = None,
        status: Annotated[list[str] | None, Query()] = None,
    ) -> Response:
        resolve = operator(request, district_id, community_id, grid_id, status)
        return await sse(resolve, parse_cursor(last_event_id, after), f"district {district_id}")

    @app.websocket("/v1/districts/{district_id}/requests/{request_id}/ws")
    async def resident_ws(
        websocket: WebSocket,
        district_id: str,
        request_id: str,
        after: int | None = None,
        last_event_id: str | None = None,
    ) -> None:
        await websocket_stream(
            websocket, resident(websocket, request_id, district_id), parse_cursor(last_event_id, after)
        )

    @app.websocket("/v1/requests/{request_id}/ws")
    async def resident_ws_short(
        websocket: WebSocket, request_id: str, after: int | None = None, last_event_id: str | None = None
    ) -> None:
        await websocket_stream(websocket, resident(websocket, request_id, None), parse_cursor(last_event_id, after))

    @app.websocket("/v1/volunteers/me/ws")
    async def volunteer_ws(websocket: WebSocket, after: int | None = None, last_event_id: str | None = None) -> None:
        await websocket_stream(websocket, volunteer(websocket), parse_cursor(last_event_id, after))

    @app.websocket("/v1/districts/{district_id}/ws")
    async def district_ws(
        websocket: WebSocket, district_id: str, after: int | None = None, last_event_id: str | None = None
    ) -> None:
        params = websocket.query_params
        resolve = operator(
            websocket, district_id, params.getlist("community_id"), params.getlist("grid_id"), params.getlist("status")
        )
        await websocket_stream(websocket, resolve, parse_cursor(last_event_id, after))

    # --- webhooks -------------------------------------------------------------------------------

    @app.post(
        "/v1/districts/{district_id}/webhooks",
        status_code=201,
        response_model=WebhookCreated,
        summary="Register a webhook endpoint",
    )
    async def create_webhook(request: Request, district_id: DistrictId, body: WebhookCreate) -> Any:
        try:
            caller = await district_principal(request, keys, WEBHOOK_ROLES, district_id)
        except Denied as denied:
            return problem(denied)
        unknown = known_event_types(body.event_types)
        if unknown:
            return problem(Denied(422, "unknown-event-type", f"unknown event types: {', '.join(unknown)}"))
        try:
            await check_target(body.url, allow_loopback=settings.webhook_allow_loopback)
        except RefusedTarget as exc:
            return problem(Denied(422, "refused-url", str(exc)))
        document = await endpoints.create(
            district_id=district_id,
            url=body.url,
            event_types=body.event_types,
            description=body.description,
            created_by=f"{caller.role.value}:{caller.subject}",
            owner_key_id=caller.key_id,
        )
        return {**webhook_read(document), "secret": document["secret"]}

    @app.get("/v1/districts/{district_id}/webhooks", response_model=list[WebhookRead], summary="List webhook endpoints")
    async def list_webhooks(request: Request, district_id: DistrictId) -> Any:
        try:
            owner = await webhook_manager(request, keys, district_id)
        except Denied as denied:
            return problem(denied)
        return [webhook_read(document) for document in await endpoints.active(district_id, owner=owner)]

    @app.delete(
        "/v1/districts/{district_id}/webhooks/{endpoint_id}", status_code=204, summary="Remove a webhook endpoint"
    )
    async def delete_webhook(request: Request, district_id: DistrictId, endpoint_id: str) -> Response:
        try:
            owner = await webhook_manager(request, keys, district_id)
        except Denied as denied:
            return problem(denied)
        if not await endpoints.deactivate(district_id, endpoint_id, owner=owner):
            return problem(Denied(404, "not-found", "no such webhook endpoint"))
        return Response(status_code=204)

    @app.get(
        "/v1/districts/{district_id}/webhooks/{endpoint_id}/deliveries",
        response_model=list[DeliveryRead],
        summary="List deliveries of an endpoint (state=parked for the parked ones)",
    )
    async def list_deliveries(
        request: Request,
        district_id: DistrictId,
        endpoint_id: str,
        state: Annotated[str | None, Query(pattern="^(pending|delivering|delivered|parked)$")] = None,
    ) -> Any:
        try:
            owner = await webhook_manager(request, keys, district_id)
        except Denied as denied:
            return problem(denied)
        if await endpoints.get(district_id, endpoint_id, owner=owner) is None:
            return problem(Denied(404, "not-found", "no such webhook endpoint"))
        return [
            {
                **{
                    k: d.get(k)
                    for k in (
                        "event_id",
                        "event_type",
                        "state",
                        "attempts",
                        "next_attempt_at",
                        "last_status",
                        "last_error",
                    )
                },
                "id": d["_id"],
            }
            for d in await deliveries.of_endpoint(district_id, endpoint_id, state)
        ]

    async def replay(request: Request, district_id: str, endpoint_id: str, delivery_id: str | None) -> Any:
        try:
            owner = await webhook_manager(request, keys, district_id)
        except Denied as denied:
            return problem(denied)
        if await endpoints.get(district_id, endpoint_id, owner=owner) is None:
            return problem(Denied(404, "not-found", "no such webhook endpoint"))
        count = await deliveries.replay(district_id, endpoint_id, delivery_id)
        if worker_box:
            worker_box[0].wake()
        return Replayed(replayed=count)

    @app.post(
        "/v1/districts/{district_id}/webhooks/{endpoint_id}/deliveries/replay",
        response_model=Replayed,
        summary="Replay every parked delivery",
    )
    async def replay_parked(request: Request, district_id: DistrictId, endpoint_id: str) -> Any:
        return await replay(request, district_id, endpoint_id, None)

    @app.post(
        "/v1/districts/{district_id}/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay",
        response_model=Replayed,
        summary="Replay one parked delivery",
    )
    async def replay_one(request: Request, district_id: DistrictId, endpoint_id: str, delivery_id: str) -> Any:
        return await replay(request, district_id, endpoint_id, delivery_id)

    # --- preferences ----------------------------------------------------------------------------

    def preferences_read(prefs: Any, phone: str | None) -> dict[str, Any]:
        return {**prefs.model_dump(mode="json"), "phone": mask_phone(phone) if phone else None}

    @app.put(
        "/v1/volunteers/me/preferences",
        response_model=PreferencesRead,
        summary="Volunteer: channels, quiet hours, language",
    )
    async def put_volunteer_preferences(request: Request, body: ResidentPreferences) -> Any:
        try:
            caller = await principal(request, keys, frozenset({Role.VOLUNTEER}))
        except Denied as denied:
            return problem(denied)
        assert caller.district_id is not None
        await preferences.put(caller.district_id, f"volunteer:{caller.subject}", body.preferences(), body.phone)
        stored, phone = await preferences.get(caller.district_id, f"volunteer:{caller.subject}")
        return preferences_read(stored, phone)

    @app.put(
        "/v1/districts/{district_id}/requests/{request_id}/preferences",
        response_model=PreferencesRead,
        summary="Resident: channels, quiet hours, language and phone for one request",
    )
    async def put_resident_preferences(
        request: Request,
        district_id: DistrictId,
        request_id: RequestId,
        body: ResidentPreferences,
        access_token: TokenQuery = None,
    ) -> Any:
        try:
            district = await resident_district(
                request, signing_keys=signing_keys, request_id=request_id, district_id=district_id, db=db, events=events
            )
        except Denied as denied:
            return problem(denied)
        await preferences.put(district, f"request:{request_id}", body.preferences(), body.phone)
        stored, phone = await preferences.get(district, f"request:{request_id}")
        return preferences_read(stored, phone)

    async def readiness() -> dict[str, bool]:
        return {"database": await ping(db), "consumer": bool(tasks) and not any(task.done() for task in tasks)}

    install_problem_handlers(app)
    instrument(app, "notify", readiness, limits=settings.rate_limits())
    return app
