"""Webhooks against a real local receiver: signed, retried after a 500, parked after N failures, replayed."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.notify.domain.signatures import EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from shared.api_keys import ApiKeyRepository, Role
from shared.contracts.status import REQUEST_ASSIGNED, REQUEST_RECEIVED
from shared.kafka import EventPublisher
from shared.mongo import Document
from shared.request_ids import mint_request_id
from shared.settings import PlatformSettings
from tests.e2e.notify.streams_client import publish_status
from tests.e2e.service_processes import ServiceProcess

pytestmark = pytest.mark.e2e
MAX_ATTEMPTS = 3  # NOTIFY_WEBHOOK_MAX_ATTEMPTS in the notify conftest


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    hits: list[Hit] = field(default_factory=list)
    failures_left: dict[str, int] = field(default_factory=dict)  # path -> how many 500s before 200s
    slow_seconds: float = 3.0
    url: str = ""

    def on(self, path: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.path == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.hits.append(Hit(self.path, dict(self.headers.items()), body, time.monotonic()))
            if self.path == "/slow":
                time.sleep(state.slow_seconds)
            left = state.failures_left.get(self.path, 0)
            if left:
                state.failures_left[self.path] = left - 1
            self.send_response(500 if left else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


async def eventually(check: Any, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def test_signed_retried_parked_and_replayed_deliveries(
    notify_replicas: tuple[ServiceProcess, ServiceProcess],
    status_publisher: EventPublisher,
    platform_settings: PlatformSettings,
    db: AsyncDatabase[Document],
    receiver: Receiver,
) -> None:
    first, _ = notify_replicas
    keys = ApiKeyRepository(db)
    app_key = await keys.create(district_id="chengzhong", role=Role.CLIENT_APP, subject="app-1")
    other_app = await keys.create(district_id="chengxi", role=Role.CLIENT_APP, subject="app-2")
    receiver.failures_left = {"/flaky": 1, "/dead": 10_000}
    async with httpx.AsyncClient(base_url=first.url, headers={"X-API-Key": app_key}, timeout=10) as client:
        refused = await client.post("/v1/districts/chengzhong/webhooks", json={"url": "http://10.0.0.1/hook"})
        created = {}
        for path, types in (("/flaky", [REQUEST_ASSIGNED]), ("/dead", []), ("/slow", [])):
            response = await client.post(
                "/v1/districts/chengzhong/webhooks", json={"url": receiver.url + path, "event_types": types}
            )
            assert response.status_code == 201, response.text
            created[path] = response.json()
        listed = (await client.get("/v1/districts/chengzhong/webhooks")).json()
        foreign = await client.get("/v1/districts/chengzhong/webhooks", headers={"X-API-Key": other_app})

        request_id = mint_request_id(platform_settings.id_signing_key.get_secret_value().encode(), "chengzhong")
        published_at = time.monotonic()
        for sequence, event_type in ((1, REQUEST_RECEIVED), (2, REQUEST_ASSIGNED)):
            await publish_status(
                status_publisher,
                platform_settings,
                district_id="chengzhong",
                request_id=request_id,
                event_type=event_type,
                sequence=sequence,
            )

        await eventually(lambda: len(receiver.on("/flaky")) >= 2)
        dead = created["/dead"]["id"]
        parked_url = f"/v1/districts/chengzhong/webhooks/{dead}/deliveries?state=parked"

        async def parked() -> list[dict[str, Any]]:
            return list((await client.get(parked_url)).json())

        deadline = time.monotonic() + 20
        while len(await parked()) < 2:
            assert time.monotonic() < deadline, "dead endpoint's deliveries were not parked"
            await asyncio.sleep(0.2)
        dead_hits = len(receiver.on("/dead"))
        parked_now = await parked()

        receiver.failures_left["/dead"] = 0
        replayed = (await client.post(f"/v1/districts/chengzhong/webhooks/{dead}/deliveries/replay")).json()
        await eventually(lambda: len(receiver.on("/dead")) >= dead_hits + 2)
        await eventually(lambda: len(receiver.on("/slow")) >= 2)
        await asyncio.sleep(0.5)
        delivered = (await client.get(f"/v1/districts/chengzhong/webhooks/{dead}/deliveries?state=delivered")).json()

    assert refused.status_code == 422 and refused.json()["code"] == "refused-url"
    assert {hook["id"] for hook in listed} >= {hook["id"] for hook in created.values()}
    assert all("secret" not in hook for hook in listed)
    assert foreign.status_code == 404

    flaky = receiver.on("/flaky")
    assert len(flaky) == 2  # a 500, then the retry that succeeded; received was filtered out
    assert flaky[0].headers[EVENT_ID_HEADER] == flaky[1].headers[EVENT_ID_HEADER] == f"{request_id}:2"
    assert flaky[0].at - published_at < 2.0  # not held up by /slow, which sleeps 3 s per delivery

    for path, hook in created.items():
        for hit in receiver.on(path):
            assert verify(
                hook["secret"],
                timestamp=hit.headers[TIMESTAMP_HEADER],
                body=hit.body,
                signature=hit.headers[SIGNATURE_HEADER],
                now=int(time.time()),
            )
            assert not verify(
                "wrong",
                timestamp=hit.headers[TIMESTAMP_HEADER],
                body=hit.body,
                signature=hit.headers[SIGNATURE_HEADER],
                now=int(time.time()),
            )

    assert dead_hits == 2 * MAX_ATTEMPTS  # each attempt claimed by exactly one of the two replicas
    assert {d["attempts"] for d in parked_now} == {MAX_ATTEMPTS}
    assert all(d["last_status"] == 500 for d in parked_now)
    assert replayed == {"replayed": 2}
    assert len(delivered) == 2
