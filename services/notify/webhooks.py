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
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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
from services.notify.webhook_store import DeliveryRepository, WebhookEndpointRepository
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
        self._in_flight: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._client = httpx.AsyncClient(
            timeout=settings.webhook_timeout_seconds,
            follow_redirects=False,  # a redirect would reach an address that was never checked
            trust_env=False,  # nor may an environment proxy stand between the check and the connect
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
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()
