"""Dispatch process bootstrap: the owner of its partitions, and the fairness and audit API over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from prometheus_client import Gauge

from services.dispatch.audit import AuditContext, add_audit_routes
from services.dispatch.audit_reads import AuditReads
from services.dispatch.care_api import CareReads, add_care_routes
from services.dispatch.handlers import Rules
from services.dispatch.owner import DispatchOwner, OwnerSettings, stop_quietly
from services.dispatch.read_models import backfill as read_models_backfill
from services.dispatch.request import OfferDefaults
from services.dispatch.settings import DispatchEngineSettings
from services.dispatch.store import DispatchStore
from shared.api_keys import ApiKeyRepository
from shared.http_observability import instrument
from shared.kafka import EventPublisher, client_options, ensure_topics
from shared.mongo import connect, database, ping
from shared.problem_details import install_problem_handlers

log = logging.getLogger(__name__)
EVENTS_HANDLED = Gauge("dispatch_events_handled", "Request events handled since start")
EVENTS_DEAD_LETTERED = Gauge("dispatch_events_dead_lettered", "Request events sent to the dead-letter topic")
TIMERS_FIRED = Gauge("dispatch_timers_fired", "Timers fired by this replica since start")
CONSUMER_LAG = Gauge("dispatch_consumer_lag", "Request events not yet handled on this replica's partitions")
LIVE_REQUESTS = Gauge("dispatch_live_requests", "Requests held in memory by this replica")
READ_MODEL_BACKFILL = Gauge(
    "dispatch_read_model_backfill_requests", "Stored requests read by the one-time read-model backfill so far"
)


class BackfillProgress:
    """How far the one-time read-model backfill got (see services.dispatch.read_models.backfill)."""

    def __init__(self) -> None:
        self.done = False
        self.requests_read = 0
        self._per_district: dict[str, int] = {}

    def report(self, district_id: str, read: int) -> None:
        self._per_district[district_id] = read
        self.requests_read = sum(self._per_district.values())
        log.info("read-model backfill: %d requests of district %s read", read, district_id)


def owner_settings(settings: DispatchEngineSettings) -> OwnerSettings:
    topics = settings.topics()
    return OwnerSettings(
        topic=topics.requests,
        status_topic=topics.status,
        dead_letter_topic=topics.dead_letter,
        instance_id=settings.instance_id,
        default_timezone=settings.timezone,
        rules=Rules(
            offers=OfferDefaults(
                offer_timeout_seconds=settings.offer_timeout_seconds,
                urgent_offer_timeout_seconds=settings.urgent_offer_timeout_seconds,
                urgent_widen_every_seconds=settings.urgent_widen_every_seconds,
            ),
            candidates_wanted=settings.candidates_per_query,
            scan_limit=settings.match_scan_limit,
        ),
        max_records=settings.max_poll_records,
        commit_timeout=settings.commit_timeout_seconds,
    )


def create_app(settings: DispatchEngineSettings | None = None) -> FastAPI:
    settings = settings or DispatchEngineSettings()
    topics = settings.topics()
    client = connect(settings)
    db = database(client, settings)
    store = DispatchStore(db)
    publisher = EventPublisher(settings.kafka_bootstrap, settings.kafka_timeout_seconds)
    owners: list[DispatchOwner] = []
    EVENTS_HANDLED.set_function(lambda: sum(o.stats.handled for o in owners))
    EVENTS_DEAD_LETTERED.set_function(lambda: sum(o.stats.dead_lettered for o in owners))
    TIMERS_FIRED.set_function(lambda: sum(o.stats.timers_fired for o in owners))
    CONSUMER_LAG.set_function(lambda: sum(o.stats.lag for o in owners))
    LIVE_REQUESTS.set_function(lambda: sum(o.owned()["live_requests"] for o in owners))
    tasks: list[asyncio.Task[None]] = []
    consumers: list[AIOKafkaConsumer] = []
    backfill = BackfillProgress()
    READ_MODEL_BACKFILL.set_function(lambda: backfill.requests_read)

    async def start_owner_once() -> None:
        # A database written before dispatch kept read models gets them once, before the owner maintains them
        # (the two would race on the same documents). That can take minutes for a large history, so it runs
        # here, after the process answers /healthz, with its progress logged and on /metrics.
        await read_models_backfill.once(db, progress=backfill.report)
        backfill.done = True
        # aiokafka binds a consumer to the running event loop: it is made here, not at import.
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=settings.group(settings.consumer_group),
            client_id=settings.instance_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=max(settings.session_timeout_ms // 4, 500),
            **client_options(),
        )
        owner = DispatchOwner(consumer, store, publisher, owner_settings(settings))
        owners[:] = [owner]
        consumers[:] = [consumer]
        consumer.subscribe([topics.requests], listener=owner.listener())
        await consumer.start()
        tasks.append(asyncio.create_task(owner.run_forever(), name="dispatch-owner"))
        log.info("dispatch consuming %s as group %s", topics.requests, settings.group(settings.consumer_group))

    async def start_owner() -> None:
        delay = 1.0
        while True:
            try:
                await start_owner_once()
                return
            except Exception:  # the database or Kafka away at start: not ready until it works
                log.exception("starting dispatch's owner failed; retrying in %.0f s", delay)
                for consumer in consumers:
                    with contextlib.suppress(Exception):
                        await consumer.stop()
                consumers.clear()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await store.ensure_indexes()
        await store.migrate_first_cut()
        await ensure_topics(settings.kafka_bootstrap, topics)
        starting = asyncio.create_task(start_owner(), name="dispatch-start")
        tasks[:] = [starting]
        yield
        for task in reversed(tasks):
            await stop_quietly(task)
        for consumer in consumers:
            await consumer.stop()
        await publisher.close()
        await client.close()

    app = FastAPI(title="Grid Service Platform — dispatch", version="0.3.0", lifespan=lifespan)

    async def readiness() -> dict[str, bool]:
        running = [t for t in tasks if t.get_name() != "dispatch-start"]  # the start task ends once they run
        alive = bool(running) and not any(t.done() for t in running) and all(o.healthy() for o in owners)
        return {"database": await ping(db), "read_models": backfill.done, "consumer": alive}

    install_problem_handlers(app)
    instrument(app, "dispatch", readiness)
    add_audit_routes(app, AuditContext(AuditReads(db), ApiKeyRepository(db)))
    add_care_routes(app, CareReads(db), ApiKeyRepository(db))
    return app
