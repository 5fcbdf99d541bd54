"""Webhook delivery worker: signs, posts, retries and parks deliveries of the durable queue.

Nothing polls the queue. A delivery is attempted when it is enqueued (the consumer hands it over), when its
retry timer fires (held in memory: `loop.call_later`), or when it is replayed; after a restart or when
another replica leaves, `recover` reads the pending and in-flight ones once (an indexed equality on a set
that does not grow with history) and sets their timers again. Each attempt is claimed by a unique insert,
so a delivery known to several replicas is still attempted by one at a time.

Each delivery runs in its own task with a timeout, and each endpoint has at most `webhook_per_endpoint`
deliveries in flight on this replica, so a slow or dead endpoint holds only its own slots and never delays
the others. A replica that dies mid-delivery leaves a lease that expires, and a recovering replica claims
the delivery again (at-least-once; receivers de-duplicate by event id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from services.notify.domain.backoff import retry_delay, should_park
from services.notify.domain.signatures import (
    DELIVERY_ID_HEADER,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)
from services.notify.domain.targets import (
    IPAddress,
    RefusedTarget,
    TargetUrl,
    check_address,
    ip_literal,
    parse_target,
)
from services.notify.settings import NotifySettings
from services.notify.webhook_store import DELIVERING, PENDING, DeliveryRepository, WebhookEndpointRepository
from shared.masking import mask_phones_in
from shared.mongo import Document

log = logging.getLogger(__name__)


# host, port -> the addresses the name resolves to; injectable so tests control resolution.
Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def check_target(url: str, *, allow_loopback: bool, resolver: Resolver = system_resolver) -> PinnedTarget:
    """Resolve the URL's host once and refuse it when any address is not public.

    The answer names the address to connect to: the caller connects there and nowhere else, so a name
    that resolves differently a moment later (DNS rebinding) cannot move the request to another host.
    """
    target = parse_target(url)
    literal = ip_literal(target.host)
    if literal is not None:
        return PinnedTarget(target, check_address(str(literal), allow_loopback=allow_loopback))
    try:
        addresses = await resolver(target.host, target.port)
    except (OSError, UnicodeError, ValueError) as exc:
        raise RefusedTarget(f"cannot resolve {target.host}: {exc}") from exc
    if not addresses:
        raise RefusedTarget(f"{target.host} has no address")
    checked = [check_address(address, allow_loopback=allow_loopback) for address in addresses]
    return PinnedTarget(target, checked[0])


@dataclass(frozen=True)
class PinnedTarget:
    target: TargetUrl
    address: IPAddress

    async def post(self, client: httpx.AsyncClient, *, content: bytes, headers: dict[str, str]) -> httpx.Response:
        """POST to the checked address; the Host header and TLS name (SNI, certificate) stay the URL's host."""
        return await client.post(
            self.target.url_for(self.address),
            content=content,
            headers={**headers, "Host": self.target.host_header},
            extensions={"sni_hostname": self.target.host},
        )


class WebhookWorker:
    def __init__(
        self,
        *,
        endpoints: WebhookEndpointRepository,
        deliveries: DeliveryRepository,
        settings: NotifySettings,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._resolver = resolver
        self._endpoints = endpoints
        self._deliveries = deliveries
        self._settings = settings
        self._lease = settings.webhook_timeout_seconds * 2 + 10
        self._in_flight: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._due: deque[Document] = deque()  # deliveries whose time has come, waiting for a free slot
        self._timers: dict[str, asyncio.TimerHandle] = {}  # delivery id -> its next attempt, in memory
        self._client = httpx.AsyncClient(
            timeout=settings.webhook_timeout_seconds,
            follow_redirects=False,  # a redirect would reach an address that was never checked
            trust_env=False,  # nor may an environment proxy stand between the check and the connect
            limits=httpx.Limits(max_connections=settings.webhook_concurrency * 2),
        )

    @property
    def scheduled(self) -> int:
        return len(self._timers) + len(self._due) + sum(self._in_flight.values())

    def submit(self, delivery: Document) -> None:
        """Attempt the delivery when it is due: now, or when its retry time (or lost lease) comes."""
        delivery_id = delivery["_id"]
        if delivery_id in self._timers:
            self._timers.pop(delivery_id).cancel()
        if delivery["state"] == DELIVERING:
            at = delivery.get("lease_until")
        else:
            at = delivery.get("next_attempt_at")
        wait = 0.0 if at is None else (at - datetime.now(UTC)).total_seconds()
        if wait <= 0:
            self._due.append(delivery)
            self._pump()
            return
        self._timers[delivery_id] = asyncio.get_running_loop().call_later(wait, self._fire, delivery)

    def _fire(self, delivery: Document) -> None:
        self._timers.pop(delivery["_id"], None)
        self._due.append(delivery)
        self._pump()

    async def recover(self) -> int:
        """Take up deliveries left pending or in flight (a restart, another replica gone); claims keep it once."""
        found = await self._deliveries.recoverable()
        for delivery in found:
            self.submit(delivery)
        return len(found)

    def _pump(self) -> None:
        """Start due deliveries while slots are free; one endpoint never holds more than its share."""
        settings = self._settings
        waiting: deque[Document] = deque()
        while self._due and sum(self._in_flight.values()) < settings.webhook_concurrency:
            delivery = self._due.popleft()
            if self._in_flight[delivery["endpoint_id"]] >= settings.webhook_per_endpoint:
                waiting.append(delivery)
            else:
                self._start(delivery)
        self._due.extendleft(reversed(waiting))

    def _start(self, delivery: Document) -> None:
        endpoint_id = delivery["endpoint_id"]
        self._in_flight[endpoint_id] += 1
        task = asyncio.create_task(self._attempt(delivery))
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            self._in_flight[endpoint_id] -= 1
            if self._in_flight[endpoint_id] <= 0:
                del self._in_flight[endpoint_id]
            self._pump()

        task.add_done_callback(done)

    async def _attempt(self, known: Document) -> None:
        delivery_id = known["_id"]
        try:
            claimed = await self._deliveries.claim(delivery_id, lease_seconds=self._lease)
        except Exception:
            log.exception("claiming webhook delivery %s failed; retrying in %.0fs", delivery_id, self._lease)
            self._retry_later(known, self._lease)
            return
        if claimed is None:
            return  # delivered, parked, gone, or another replica won this attempt: it goes on from there
        if isinstance(claimed, datetime):  # not due yet (a timer that fired early, a retry set elsewhere)
            self.submit({**known, "state": PENDING, "next_attempt_at": claimed})
            return
        delivery, claim_id = claimed
        await self._deliver(delivery)
        with contextlib.suppress(Exception):  # a claim left behind only costs a document
            await self._deliveries.release(claim_id)

    def _retry_later(self, delivery: Document, seconds: float) -> None:
        self.submit({**delivery, "state": PENDING, "next_attempt_at": datetime.now(UTC) + timedelta(seconds=seconds)})

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
            if retry_in is not None:
                self._retry_later(delivery, retry_in)
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
            self._retry_later(delivery, self._lease)

    async def _post(self, delivery: Document) -> tuple[int | None, str]:
        endpoint = await self._endpoints.get(delivery["district_id"], delivery["endpoint_id"])
        if endpoint is None:
            return None, "refused: endpoint was removed"
        try:
            # Checked again per delivery: the name may point elsewhere since it was registered.
            pinned = await check_target(
                endpoint["url"], allow_loopback=self._settings.webhook_allow_loopback, resolver=self._resolver
            )
        except RefusedTarget as exc:
            return None, f"refused: {exc}"
        body = delivery["body"].encode()
        timestamp = int(time.time())
        headers: dict[str, str] = {
            "Content-Type": "application/json",
            "User-Agent": "grid-notify-webhooks/1",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(endpoint["secret"], timestamp, body),
            EVENT_ID_HEADER: delivery["event_id"],
            EVENT_TYPE_HEADER: delivery["event_type"],
            DELIVERY_ID_HEADER: delivery["_id"],
        }
        try:
            response = await pinned.post(self._client, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        return response.status_code, "" if response.is_success else f"HTTP {response.status_code}"

    async def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()
