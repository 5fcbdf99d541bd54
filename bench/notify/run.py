"""Benchmark: N concurrent SSE clients on one notify process (on demand only, never in the test suite).

    .venv/bin/python bench/notify/run.py                  # 1k, 5k and 10k clients, 200 events each
    .venv/bin/python bench/notify/run.py --clients 2000 --events 100 --workers 2

Needs Kafka and FerretDB/MongoDB (KAFKA_BOOTSTRAP / MONGODB_URI, default the native stack). Each round
starts a fresh notify process with its own topic prefix and database (dropped at the end), so the memory
figure of one round is not hidden by memory freed in the previous one. Loopback only.

Clients are raw asyncio sockets speaking HTTP/1.1 (chunked) and parsing SSE frames, spread over
`--workers` generator processes so that the load generator's own event loop is not what is measured;
each generator reports its CPU time next to notify's. Each client follows its own request as a resident
would. Events go open-loop at `--rate` per second to random followed requests through Kafka; latency is
from just before the producer call to the moment the client's socket had the event (CLOCK_MONOTONIC, the
same in every process). An event that its client did not get within `--grace` seconds after the last
one was produced is counted as a miss, never aborts the run. Memory is the growth of notify's RSS from
before connecting to the idle connected state, divided by the number of clients.

Then the reconnect storm: every stream drops, `--missed` events go to random followed requests while they
are away, and all clients reconnect at once, each with the Last-Event-ID of the last event it had (a client
that never had one reconnects fresh). Measured: from the first reconnect until every missed event reached
its client, and until notify's `notify_stream_replays` gauge is back at 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pymongo import AsyncMongoClient  # noqa: E402

from bench.worker_process import LINE_LIMIT, WorkerProcess  # noqa: E402
from shared.contracts import StatusChangedV1, new_event  # noqa: E402
from shared.kafka import EventPublisher  # noqa: E402
from shared.request_ids import access_token, mint_request_id  # noqa: E402
from shared.settings import PlatformSettings  # noqa: E402
from tests.e2e.service_processes import ServiceProcess  # noqa: E402

DISTRICT = "bench"
CONNECT_BATCH = 200
CONNECT_TIMEOUT = 30.0
TICKS = os.sysconf("SC_CLK_TCK")


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        raise SystemExit(f"need {needed} file descriptors, the hard limit allows {soft}")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (fields 14 and 15 of /proc/pid/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


# --- generator process: raw SSE clients --------------------------------------------------------


class SseClient:
    """One resident stream over a plain socket: HTTP/1.1 chunked decoding, then SSE frames."""

    def __init__(self, request_id: str, token: str) -> None:
        self.request_id = request_id
        self.token = token
        self.arrivals: dict[str, float] = {}
        self.last_id: str | None = None  # the SSE id of the last event, for Last-Event-ID
        self.heartbeats = 0
        self.controls: list[str] = []
        self.closed = False
        self.writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task[None] | None = None

    async def connect(self, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        self.writer = writer
        self.closed = False
        path = f"/v1/districts/{DISTRICT}/requests/{self.request_id}/events?access_token={self.token}"
        resume = f"Last-Event-ID: {self.last_id}\r\n" if self.last_id else ""
        writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n{resume}\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status_line = head.split(b"\r\n", 1)[0]
        if b" 200 " not in status_line or b"chunked" not in head.lower():
            writer.close()
            raise RuntimeError(status_line.decode(errors="replace"))
        self.task = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        buffer = b""
        try:
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                if size == 0:
                    break
                chunk = await reader.readexactly(size + 2)
                arrived = time.perf_counter()
                buffer += chunk[:-2]
                while b"\n\n" in buffer:
                    frame, buffer = buffer.split(b"\n\n", 1)
                    self._frame(frame, arrived)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        self.closed = True

    def _frame(self, frame: bytes, arrived: float) -> None:
        kind, data = "message", b""
        for line in frame.split(b"\n"):
            if line.startswith(b": heartbeat"):
                self.heartbeats += 1
            elif line.startswith(b"id: "):
                self.last_id = line[4:].decode()
            elif line.startswith(b"event: "):
                kind = line[7:].decode()
            elif line.startswith(b"data: "):
                data = line[6:]
        if kind.startswith("request."):
            self.arrivals[str(json.loads(data)["id"])] = arrived
        elif data:
            self.controls.append(kind)

    async def close(self) -> None:
        if self.task:
            self.task.cancel()
        if self.writer:
            self.writer.close()
        self.task, self.writer = None, None


async def worker() -> None:
    """Serve one generator process: commands and answers as JSON lines on stdin/stdout."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    clients: list[SseClient] = []

    def answer(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    while line := await reader.readline():
        command = json.loads(line)
        if command["op"] == "connect":
            raise_fd_limit(len(command["clients"]) + 256)
            clients = [SseClient(rid, token) for rid, token in command["clients"]]
            errors: list[str] = []
            for start in range(0, len(clients), CONNECT_BATCH):
                batch = clients[start : start + CONNECT_BATCH]
                results = await asyncio.gather(
                    *(asyncio.wait_for(c.connect(command["port"]), CONNECT_TIMEOUT) for c in batch),
                    return_exceptions=True,
                )
                errors += [repr(r) for r in results if isinstance(r, BaseException)]
            answer({"connected": len(clients) - len(errors), "failed": len(errors), "errors": errors[:5]})
        elif command["op"] == "disconnect":
            await asyncio.gather(*(c.close() for c in clients))
            answer({"disconnected": len(clients)})
        elif command["op"] == "reconnect":
            fresh = [c.request_id for c in clients if c.last_id is None]
            for client in clients:  # from here on, arrivals are what the reconnected streams deliver
                client.arrivals = {}
            errors = []
            for start in range(0, len(clients), CONNECT_BATCH):
                batch = clients[start : start + CONNECT_BATCH]
                results = await asyncio.gather(
                    *(asyncio.wait_for(c.connect(command["port"]), CONNECT_TIMEOUT) for c in batch),
                    return_exceptions=True,
                )
                errors += [repr(r) for r in results if isinstance(r, BaseException)]
            connected = len(clients) - len(errors)
            answer({"connected": connected, "failed": len(errors), "errors": errors[:5], "fresh": fresh})
        elif command["op"] == "report":
            arrivals = {event_id: t for c in clients for event_id, t in c.arrivals.items()}
            answer(
                {
                    "arrivals": arrivals,
                    "closed": sum(c.closed for c in clients),
                    "heartbeats": sum(c.heartbeats for c in clients),
                    "controls": [kind for c in clients for kind in c.controls],
                    "cpu_s": cpu_seconds(os.getpid()),
                }
            )
        elif command["op"] == "close":
            await asyncio.gather(*(c.close() for c in clients))
            answer({"closed": True})
            return


class Generator(WorkerProcess):
    """One worker process of this benchmark (`bench/notify/run.py --worker`) and the clients it runs."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        super().__init__(process)
        self.clients: list[tuple[str, str]] = []

    @classmethod
    async def start_worker(cls) -> Generator:
        return await cls.start(__file__, "--worker")

    async def close(self) -> None:
        await self.stop({"op": "close"})


# --- main process: notify, producer, rounds ----------------------------------------------------


async def gauge(port: int, name: str) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
    body = (await reader.read()).decode()
    writer.close()
    for line in body.splitlines():
        if line.startswith(f"{name} "):
            return int(float(line.split()[1]))
    return -1


async def wait_gauge(port: int, name: str, value: int, within: float) -> int:
    for _ in range(int(within / 0.5)):  # polls another process's metric
        if await gauge(port, name) == value:
            break
        await asyncio.sleep(0.5)
    return await gauge(port, name)


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


@dataclass
class Options:
    events: int
    rate: float
    grace: float
    workers: int
    heartbeat: float
    logs: Path
    missed: int


async def round_of(clients_wanted: int, options: Options) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    env = {
        "MONGODB_DATABASE": f"grid_bench_{run}",
        "GRID_TOPIC_PREFIX": f"bench{run}.",
        "GRID_ID_SIGNING_KEY": f"bench-{run}-{uuid.uuid4().hex}",  # services refuse short keys
        "NOTIFY_HEARTBEAT_SECONDS": str(options.heartbeat),
        "GRID_LOG_LEVEL": "WARNING",
        # Thousands of clients connect from this one address within seconds.
        "GRID_RATE_PER_ADDRESS_PER_SECOND": "1000000",
        "GRID_RATE_ADDRESS_BURST": "1000000",
    }
    settings = PlatformSettings(**env)  # type: ignore[arg-type]
    key = settings.id_signing_key.get_secret_value().encode()
    topic = settings.topics().status
    notify = ServiceProcess("notify", env, options.logs)
    notify.start()
    assert notify.process is not None
    pid = notify.process.pid
    publisher = EventPublisher(settings.kafka_bootstrap, 10.0)
    generators = [await Generator.start_worker() for _ in range(min(options.workers, clients_wanted))]
    try:
        request_ids = [mint_request_id(key, DISTRICT) for _ in range(clients_wanted)]
        for number, request_id in enumerate(request_ids):
            generators[number % len(generators)].clients.append((request_id, access_token(key, request_id)))

        acked: dict[str, float] = {}  # event id -> seconds the producer call took (broker ack)

        async def publish(request_id: str, event_id: str, sequence: int) -> tuple[float, float]:
            event = new_event(
                event_type="request.started",
                source="bench",
                district_id=DISTRICT,
                request_id=request_id,
                event_id=event_id,
                data=StatusChangedV1(status="in_progress", sequence=sequence),
            )
            sent, wall = time.perf_counter(), time.time()
            await publisher.publish(topic, event)
            acked[event_id] = time.perf_counter() - sent
            return sent, wall

        # Warm up the producer, the consumer's fetch session and the district feed (not measured).
        warm = request_ids[0]
        await publish(warm, f"{warm}:warm", 1)

        baseline_rss, cpu_before = rss_kib(pid), cpu_seconds(pid)
        started = time.perf_counter()
        answers = await asyncio.gather(
            *(g.ask({"op": "connect", "port": notify.port, "clients": g.clients}, 300) for g in generators)
        )
        connected = sum(a["connected"] for a in answers)
        errors = [e for a in answers for e in a["errors"]]
        streams = await wait_gauge(notify.port, "notify_open_streams", connected, 60)
        connect_seconds = time.perf_counter() - started
        # Every stream reads its history once; measure the steady state after that burst.
        await wait_gauge(notify.port, "notify_stream_replays", 0, 300)
        ready_seconds = time.perf_counter() - started
        connect_cpu = cpu_seconds(pid) - cpu_before
        await asyncio.sleep(2)
        idle_rss = rss_kib(pid)

        rand = random.Random(clients_wanted)
        sent: dict[str, tuple[str, float, float]] = {}  # event id -> (request id, perf_counter, wall clock)
        generator_cpu = [a["cpu_s"] for a in await asyncio.gather(*(g.ask({"op": "report"}, 60) for g in generators))]
        cpu_before, phase_started = cpu_seconds(pid), time.perf_counter()
        interval = 1.0 / options.rate
        for number in range(options.events):
            due = phase_started + number * interval
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            request_id = rand.choice(request_ids)
            event_id = f"{request_id}:{number + 2}"
            sent[event_id] = (request_id, *await publish(request_id, event_id, number + 2))

        deadline = time.perf_counter() + options.grace
        while True:
            reports = await asyncio.gather(*(g.ask({"op": "report"}, 60) for g in generators))
            arrivals: dict[str, float] = {}
            for report in reports:
                arrivals.update(report["arrivals"])
            missing = [e for e in sent if e not in arrivals]
            if not missing or time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.25)
        phase_seconds = time.perf_counter() - phase_started
        phase_cpu = cpu_seconds(pid) - cpu_before
        generator_cpu = [r["cpu_s"] - before for r, before in zip(reports, generator_cpu, strict=True)]

        latencies = [(arrivals[e] - t) * 1000 for e, (_, t, _) in sent.items() if e in arrivals]
        slow = sorted(
            (round(t - phase_started, 2), round((arrivals[e] - t) * 1000), round(acked[e] * 1000))
            for e, (_, t, _) in sent.items()
            if e in arrivals and arrivals[e] - t > 0.2
        )
        fanout = {
            "p50_ms": percentile(latencies, 0.50),
            "p99_ms": percentile(latencies, 0.99),
            "max_ms": max(latencies, default=float("nan")),
            "misses": len(missing),
            "closed_by_server": sum(r["closed"] for r in reports),
            "controls": sorted({k for r in reports for k in r["controls"]}),
            "heartbeats": sum(r["heartbeats"] for r in reports),
        }

        # Reconnect storm: every stream drops, `missed` events go out while they are away, and all of them
        # reconnect at once with their Last-Event-ID (a client that never had an event reconnects fresh).
        # First every stream gets one event of its own, so that every client has a cursor to resume from.
        marks = [
            new_event(
                event_type="request.started",
                source="bench",
                district_id=DISTRICT,
                request_id=request_id,
                event_id=f"{request_id}:mark",
                data=StatusChangedV1(status="in_progress", sequence=options.events + 2),
            )
            for request_id in request_ids
        ]
        for first in range(0, len(marks), 1000):
            await publisher.publish_many(topic, marks[first : first + 1000])
        deadline = time.perf_counter() + 120
        while time.perf_counter() < deadline:
            reports = await asyncio.gather(*(g.ask({"op": "report"}, 60) for g in generators))
            if sum(1 for r in reports for e in r["arrivals"] if e.endswith(":mark")) >= len(marks):
                break
            await asyncio.sleep(0.25)
        await asyncio.gather(*(g.ask({"op": "disconnect"}, 120) for g in generators))
        await wait_gauge(notify.port, "notify_open_streams", 0, 60)
        offline: dict[str, str] = {}  # event id -> request id
        for number in range(options.missed):
            request_id = rand.choice(request_ids)
            event_id = f"{request_id}:{options.events + number + 3}"
            await publish(request_id, event_id, options.events + number + 3)
            offline[event_id] = request_id
        await asyncio.sleep(1.0)  # let notify read them (the storm measures resuming, not the broker)
        cpu_before, storm_started = cpu_seconds(pid), time.perf_counter()
        answers = await asyncio.gather(
            *(g.ask({"op": "reconnect", "port": notify.port, "clients": []}, 300) for g in generators)
        )
        back_s = time.perf_counter() - storm_started  # every client has its response head
        reconnected = sum(a["connected"] for a in answers)
        # A client that never had an event reconnects without a cursor and gets the recent history held in
        # memory, not necessarily everything it missed: only resumed streams count.
        fresh = {request_id for a in answers for request_id in a["fresh"]}
        offline = {e: request_id for e, request_id in offline.items() if request_id not in fresh}
        deadline = time.perf_counter() + 120
        while True:
            reports = await asyncio.gather(*(g.ask({"op": "report"}, 60) for g in generators))
            arrivals = {}
            for report in reports:
                arrivals.update(report["arrivals"])
            still_missing = [e for e in offline if e not in arrivals]
            if not still_missing or time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.1)
        storm_done = max((arrivals[e] for e in offline if e in arrivals), default=storm_started)
        replays_done = await wait_gauge(notify.port, "notify_stream_replays", 0, 120)
        storm = {
            "storm_reconnected": reconnected,
            "storm_fresh": len(fresh),
            "storm_back_s": back_s,
            "storm_missed_events": len(offline),
            "storm_s": storm_done - storm_started,
            "storm_all_back_s": time.perf_counter() - storm_started,
            "storm_not_received": len(still_missing),
            "storm_cpu_pct": 100 * (cpu_seconds(pid) - cpu_before) / max(0.001, time.perf_counter() - storm_started),
            "storm_replays_left": replays_done,
        }
        return {
            "clients": clients_wanted,
            "connected": connected,
            "connect_failed": len(errors),
            "connect_errors": errors[:3],
            "streams": streams,
            "connect_s": connect_seconds,
            "ready_s": ready_seconds,
            "connect_cpu_pct": 100 * connect_cpu / ready_seconds,
            "events": len(sent),
            **fanout,
            "ack_p99_ms": percentile([a * 1000 for a in acked.values()], 0.99),
            # events over 200 ms: (seconds into the phase, total ms, ms to broker ack)
            "slow": slow,
            "kb_per_conn": (idle_rss - baseline_rss) * 1024 / 1000 / max(1, connected),
            "rss_mib": idle_rss / 1024,
            "notify_cpu_pct": 100 * phase_cpu / phase_seconds,
            "generator_cpu_pct": [round(100 * c / phase_seconds) for c in generator_cpu],
            **storm,
        }
    finally:
        await asyncio.gather(*(g.close() for g in generators), return_exceptions=True)
        await publisher.close()
        notify.stop()
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_uri)
        await mongo.drop_database(settings.mongodb_database)
        await mongo.close()


def line_of(r: dict[str, Any]) -> str:
    text = (
        f"{r['clients']:>6} clients ({r['connected']} connected, {r['connect_failed']} failed, connect "
        f"{r['connect_s']:.1f}s, histories read {r['ready_s']:.1f}s, {r['connect_cpu_pct']:.0f}% CPU): "
        f"p50 {r['p50_ms']:.1f} ms  "
        f"p99 {r['p99_ms']:.1f} ms  max {r['max_ms']:.1f} ms  misses {r['misses']}/{r['events']}  "
        f"{r['kb_per_conn']:.1f} KB/idle connection (RSS {r['rss_mib']:.0f} MiB)  "
        f"notify CPU {r['notify_cpu_pct']:.0f}%  generators CPU {r['generator_cpu_pct']}%  "
        f"heartbeats {r['heartbeats']}  closed by server {r['closed_by_server']}\n"
        f"        reconnect storm: {r['storm_reconnected']} streams back in {r['storm_back_s']:.1f} s "
        f"({r['storm_fresh']} of them fresh), "
        f"the {r['storm_missed_events']} events the resumed ones missed received in {r['storm_s']:.2f} s "
        f"({r['storm_not_received']} not received; every stream's history read after "
        f"{r['storm_all_back_s']:.1f} s, {r['storm_cpu_pct']:.0f}% CPU)"
    )
    if r["controls"]:
        text += f"  controls {r['controls']}"
    if r["slow"]:
        text += f"  over 200 ms (at s, total, to ack): {r['slow'][:8]}"
    if r["connect_errors"]:
        text += f"  connect errors e.g. {r['connect_errors']}"
    return text


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1000,5000,10000")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="events per second, open loop")
    parser.add_argument("--grace", type=float, default=15.0, help="seconds to wait for late events")
    parser.add_argument("--missed", type=int, default=200, help="events published while every stream is away")
    parser.add_argument("--workers", type=int, default=2, help="load generator processes")
    parser.add_argument("--heartbeat", type=float, default=15.0, help="NOTIFY_HEARTBEAT_SECONDS")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        await worker()
        return
    rounds = [int(n) for n in args.clients.split(",")]
    raise_fd_limit(max(rounds) + 1024)  # inherited by notify: its server side of every connection
    logs = ROOT / "test-artifacts"
    logs.mkdir(exist_ok=True)
    options = Options(args.events, args.rate, args.grace, args.workers, args.heartbeat, logs, args.missed)
    results = []
    for count in rounds:
        result = await round_of(count, options)
        results.append(result)
        print(line_of(result), flush=True)
    print(json.dumps(results, indent=1), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
