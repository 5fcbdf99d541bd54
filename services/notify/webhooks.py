"""Webhook delivery worker: claims due deliveries from the durable queue, signs, posts, retries, parks.

Each delivery runs in its own task with a timeout, and each endpoint has at most
`webhook_per_endpoint` deliveries in flight on this replica, so a slow or dead endpoint holds only its
own slots and never delays the others. A replica that dies mid-delivery leaves a lease that expires,
and any replica claims the delivery again (at-least-once; receivers de-duplicate by event id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import httpx

from services.notify.domain.backoff import retry_delay, should_park
from services.notify.domain.masking import mask_phones_in
from services.notify.domain.signatures import (
    DELIVERY_ID_HEADER,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)
from services.notify.domain.targets import RefusedTarget, check_address, check_url_shape
from services.notify.settings import NotifySettings
from services.notify.webhook_store import DeliveryRepository, WebhookEndpointRepository
from shared.mongo import Document

log = logging.getLogger(__name__)


async def check_target(url: str, *, allow_loopback: bool) -> None:
    """Resolve the URL's host and refuse it when any address is not public (checked again per delivery)."""
    host = check_url_shape(url)
    port = urlsplit(url).port or (443 if url.startswith("https") else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port)
    except OSError as exc:
        raise RefusedTarget(f"cannot resolve {host}: {exc}") from exc
    for info in infos:
        check_address(str(info[4][0]), allow_loopback=allow_loopback)


class WebhookWorker:
    def __init__(
        self,
        *,
        endpoints: WebhookEndpointRepository,
        deliveries: DeliveryRepository,
        settings: NotifySettings,
    ) -> None:
        self._endpoints = endpoints
        self._deliveries = deliveries
        self._settings = settings
        self._in_flight: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._client = httpx.AsyncClient(
            timeout=settings.webhook_timeout_seconds,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=settings.webhook_concurrency * 2),
        )

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        settings = self._settings
        lease = settings.webhook_timeout_seconds * 2 + 10
        while True:
            try:
                while sum(self._in_flight.values()) < settings.webhook_concurrency:
                    busy = [e for e, count in self._in_flight.items() if count >= settings.webhook_per_endpoint]
                    delivery = await self._deliveries.claim(busy_endpoints=busy, lease_seconds=lease)
                    if delivery is None:
                        break
                    self._start(delivery)
            except Exception:
                log.exception("claiming webhook deliveries failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), settings.webhook_poll_seconds)
            self._wake.clear()

    def _start(self, delivery: Document) -> None:
        endpoint_id = delivery["endpoint_id"]
        self._in_flight[endpoint_id] += 1
        task = asyncio.create_task(self._deliver(delivery))
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            self._in_flight[endpoint_id] -= 1
            if self._in_flight[endpoint_id] <= 0:
                del self._in_flight[endpoint_id]
            self._wake.set()

        task.add_done_callback(done)

    async def _deliver(self, delivery: Document) -> None:
        delivery_id = delivery["_id"]
        try:
            status, error = await self._post(delivery)
        except Exception as exc:  # never lose a delivery to a bug in one attempt: it is retried
            status, error = None, f"{type(exc).__name__}: {exc}"
        try:
            if status is not None and 200 <= status < 300:
                await self._deliveries.succeeded(delivery_id, status)
                return
            attempts = int(delivery["attempts"]) + 1
            retry_in = None
            if not should_park(attempts, self._settings.webhook_max_attempts) and not error.startswith("refused"):
                retry_in = retry_delay(
                    attempts,
                    base=self._settings.webhook_backoff_base_seconds,
                    cap=self._settings.webhook_backoff_cap_seconds,
                )
            await self._deliveries.failed(delivery_id, error=error, status=status, retry_in=retry_in)
            log.info(
                "webhook delivery %s failed (attempt %d): %s; %s",
                delivery_id,
                attempts,
                mask_phones_in(error),
                "parked" if retry_in is None else f"retry in {retry_in:.2f}s",
                extra={"event_id": delivery["event_id"], "district_id": delivery["district_id"]},
            )
        except Exception:
            log.exception("recording the outcome of webhook delivery %s failed; its lease will expire", delivery_id)

    async def _post(self, delivery: Document) -> tuple[int | None, str]:
        endpoint = await self._endpoints.get(delivery["district_id"], delivery["endpoint_id"])
        if endpoint is None:
            return None, "refused: endpoint was removed"
        try:
            await check_target(endpoint["url"], allow_loopback=self._settings.webhook_allow_loopback)
        except RefusedTarget as exc:
            return None, f"refused: {exc}"
        body = delivery["body"].encode()
        timestamp = int(time.time())
        headers: dict[str, Any] = {
            "Content-Type": "application/json",
            "User-Agent": "grid-notify-webhooks/1",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(endpoint["secret"], timestamp, body),
            EVENT_ID_HEADER: delivery["event_id"],
            EVENT_TYPE_HEADER: delivery["event_type"],
            DELIVERY_ID_HEADER: delivery["_id"],
        }
        try:
            response = await self._client.post(endpoint["url"], content=body, headers=headers)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        return response.status_code, "" if response.is_success else f"HTTP {response.status_code}"

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()
