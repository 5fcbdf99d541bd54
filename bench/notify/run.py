"""Benchmark: N concurrent SSE clients on one notify process (on demand only, never in the test suite).

    .venv/bin/python bench/notify/run.py                  # 1k, 5k and 10k clients, 200 events each
    .venv/bin/python bench/notify/run.py --clients 2000 --events 100

Needs Kafka and FerretDB/MongoDB (KAFKA_BOOTSTRAP / MONGODB_URI, default the native stack). Uses its own
topic prefix and database, dropped at the end. Each client follows its own request as a resident would;
events go to random followed requests, one at a time, through Kafka. Latency is from just before the
producer call to the moment the client's socket has the event; memory is the notify process's RSS
growth divided by the number of idle connections.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pymongo import AsyncMongoClient  # noqa: E402

from shared.contracts import StatusChangedV1, new_event  # noqa: E402
from shared.kafka import EventPublisher  # noqa: E402
from shared.request_ids import access_token, mint_request_id  # noqa: E402
from shared.settings import PlatformSettings  # noqa: E402
from tests.e2e.service_processes import ServiceProcess  # noqa: E402

DISTRICT = "bench"


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else needed
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(target, max(needed, soft)), hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        raise SystemExit(f"need {needed} file descriptors, the hard limit allows {soft}")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Client:
    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.received: asyncio.Queue[float] = asyncio.Queue()
        self.writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task[None] | None = None

    async def connect(self, port: int, token: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        self.writer = writer
        path = f"/v1/districts/{DISTRICT}/requests/{self.request_id}/events?access_token={token}"
        writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(head.decode(errors="replace"))
        self.task = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while chunk := await reader.read(65536):
            if b"event: request." in chunk:
                self.received.put_nowait(time.perf_counter())

    async def close(self) -> None:
        if self.task:
            self.task.cancel()
        if self.writer:
            self.writer.close()


async def open_streams(url: str) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", int(url.rsplit(":", 1)[1]))
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
    body = (await reader.read()).decode()
    writer.close()
    for line in body.splitlines():
        if line.startswith("notify_open_streams "):
            return int(float(line.split()[1]))
    return -1


async def wait_streams(url: str, count: int, within: float = 120.0) -> None:
    deadline = time.monotonic() + within
    while await open_streams(url) != count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"notify did not reach {count} open streams (has {await open_streams(url)})")
        await asyncio.sleep(0.5)


async def round_of(
    clients_wanted: int, events: int, notify: ServiceProcess, publisher: EventPublisher, settings: PlatformSettings
) -> dict[str, float]:
    key = settings.id_signing_key.get_secret_value().encode()
    assert notify.process is not None
    baseline = rss_kib(notify.process.pid)
    clients = [Client(mint_request_id(key, DISTRICT)) for _ in range(clients_wanted)]
    started = time.perf_counter()
    for batch in range(0, clients_wanted, 250):
        group = clients[batch : batch + 250]
        await asyncio.gather(*(c.connect(notify.port, access_token(key, c.request_id)) for c in group))
    await wait_streams(notify.url, clients_wanted)
    connect_seconds = time.perf_counter() - started
    await asyncio.sleep(2)
    idle_rss = rss_kib(notify.process.pid)

    latencies: list[float] = []
    rand = random.Random(clients_wanted)
    for number in range(events):
        client = rand.choice(clients)
        event = new_event(
            event_type="request.started",
            source="bench",
            district_id=DISTRICT,
            request_id=client.request_id,
            event_id=f"{client.request_id}:{number + 1}",
            data=StatusChangedV1(status="in_progress", sequence=number + 1),
        )
        sent = time.perf_counter()
        await publisher.publish(settings.topics().status, event)
        arrived = await asyncio.wait_for(client.received.get(), 30)
        latencies.append((arrived - sent) * 1000)
        await asyncio.sleep(0.01)
    await asyncio.gather(*(c.close() for c in clients))
    await wait_streams(notify.url, 0)
    latencies.sort()
    return {
        "clients": clients_wanted,
        "connect_s": connect_seconds,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)],
        "max_ms": latencies[-1],
        "kib_per_conn": (idle_rss - baseline) / clients_wanted,
        "rss_mib": idle_rss / 1024,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1000,5000,10000")
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args()
    rounds = [int(n) for n in args.clients.split(",")]
    raise_fd_limit(max(rounds) + 1024)  # per process: the clients here, the server in notify

    run = uuid.uuid4().hex[:8]
    env = {
        "MONGODB_DATABASE": f"grid_bench_{run}",
        "GRID_TOPIC_PREFIX": f"bench{run}.",
        "GRID_ID_SIGNING_KEY": f"bench-{run}",
        "NOTIFY_HEARTBEAT_SECONDS": "30",
        "NOTIFY_INSTANCE_ID": "bench",
        "GRID_LOG_LEVEL": "WARNING",
    }
    settings = PlatformSettings(**env)  # type: ignore[arg-type]
    logs = ROOT / "test-artifacts"
    logs.mkdir(exist_ok=True)
    notify = ServiceProcess("notify", env, logs)
    notify.start()
    publisher = EventPublisher(settings.kafka_bootstrap, 10.0)
    results = []
    try:
        for count in rounds:
            result = await round_of(count, args.events, notify, publisher, settings)
            results.append(result)
            print(
                f"{count:>6} clients: connect {result['connect_s']:.1f}s  p50 {result['p50_ms']:.1f} ms  "
                f"p99 {result['p99_ms']:.1f} ms  max {result['max_ms']:.1f} ms  "
                f"{result['kib_per_conn']:.1f} KiB/idle connection  (RSS {result['rss_mib']:.0f} MiB)",
                flush=True,
            )
    finally:
        await publisher.close()
        notify.stop()
        mongo: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(settings.mongodb_uri)
        await mongo.drop_database(settings.mongodb_database)
        await mongo.close()


if __name__ == "__main__":
    asyncio.run(main())
