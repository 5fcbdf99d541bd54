"""Dispatch's edges besides HTTP: the Kafka router, the timer loop, the outbox and re-match sweeps."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from services.dispatch import handlers, outbox
from services.dispatch.handlers import Dispatch, now_ms
from shared.contracts import (
    COMMAND_PAYLOADS,
    REQUEST_SUBMITTED,
    EventEnvelope,
    RequestSubmittedV1,
    UnknownEventError,
    decode_data,
)
from shared.kafka import EventPublisher
from shared.mongo import Document

log = logging.getLogger(__name__)


class RequestEventRouter:
    def __init__(self, ctx: Dispatch, publisher: EventPublisher, status_topic: str) -> None:
        self._ctx = ctx
        self._publisher = publisher
        self._status_topic = status_topic
        self.timers_fired = 0

    async def __call__(self, envelope: EventEnvelope) -> None:
        data = decode_data(envelope)
        now = now_ms()
        if envelope.type == REQUEST_SUBMITTED and isinstance(data, RequestSubmittedV1):
            document: Document | None = await handlers.handle_submitted(self._ctx, envelope, data, now)
        elif envelope.type in COMMAND_PAYLOADS:
            document = await handlers.handle_command(self._ctx, envelope, data, now)
        else:
            raise UnknownEventError(f"dispatch does not handle {envelope.type!r}")
        if document is None:
            log.warning("command %s for unknown request", envelope.id, extra={"request_id": envelope.request_id})
            return
        await self.flush(document)

    async def flush(self, document: Document) -> None:
        await outbox.flush(
            document,
            requests=self._ctx.requests,
            timers=self._ctx.timers,
            volunteers=self._ctx.volunteers,
            publisher=self._publisher,
            topic=self._status_topic,
            on_volunteer_freed=self.rematch_district,
        )

    async def rematch_district(self, district_id: str | None) -> None:
        """Offer waiting requests to whoever is free now, oldest request first."""
        for request_id in await self._ctx.requests.waiting(district_id=district_id):
            document = await handlers.rematch(self._ctx, request_id, now_ms())
            if document is not None:
                await self.flush(document)

    async def fire_due_timers(self, owner: str) -> int:
        """Claim and fire every due timer; returns how many fired."""
        lease = timedelta(seconds=self._ctx.settings.timer_lease_seconds)
        fired = 0
        while (timer := await self._ctx.timers.claim(owner, now_ms(), lease)) is not None:
            document = await handlers.handle_timer(self._ctx, timer, now_ms())
            if document is not None:
                await self.flush(document)
            await self._ctx.timers.done(timer["_id"], owner)
            fired += 1
        self.timers_fired += fired
        return fired

    async def timers_forever(self, owner: str) -> None:
        while True:
            try:
                await self.fire_due_timers(owner)
            except Exception:
                log.exception("timer loop failed; will retry")
            await asyncio.sleep(self._ctx.settings.timer_poll_seconds)

    async def rematch_forever(self) -> None:
        """New or newly available volunteers are noticed here (nobody tells dispatch when they are added)."""
        while True:
            await asyncio.sleep(self._ctx.settings.rematch_sweep_seconds)
            try:
                await self.rematch_district(None)
            except Exception:
                log.exception("re-match sweep failed; will retry")

    async def sweep_outboxes_forever(self) -> None:
        """Carry out outboxes left behind by a crash between the database write and the publish."""
        settings = self._ctx.settings
        while True:
            try:
                older_than = now_ms() - timedelta(seconds=settings.outbox_grace_seconds)
                for document in await self._ctx.requests.with_pending_outbox(older_than):
                    await self.flush(document)
            except Exception:
                log.exception("outbox sweep failed; will retry")
            await asyncio.sleep(settings.outbox_sweep_seconds)
