"""Benchmark intake: submissions acknowledged by the real broker vs. a bare 202 endpoint, same server, same run.

    .venv/bin/python bench/intake/run.py [--seconds 5] [--rounds 3] [--concurrency 32] [--rate 1000]

Uses KAFKA_BOOTSTRAP / MONGODB_URI (default: the native stack on 127.0.0.1), a database and topic
prefix of its own (dropped afterwards), the demo district and a client_app key. Phases:
1. closed loop, `--concurrency` connections, as fast as possible: the bare endpoint and submissions in
   alternating rounds (bare, submit, bare, submit, ...), so that both see the same share of a machine whose
   other load comes and goes; the ratio reported is the median of the rounds' ratios;
2. open loop at `--rate` submissions/s: latency when the offered load is fixed (the issue's p99 target).

The bare endpoint runs through the same middleware (tracing, rate limits, body limit, security headers) as
every route, so the ratio is the cost of the submission itself: authentication, the reference checks
(from memory: services/intake/reference_cache.py), validation, the event and Kafka's acknowledgement. The
server reports how many database reads its reference cache made, before and after the measured phases.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from services.admin import reference_data  # noqa: E402
from shared.api_keys import ApiKeyRepository, Role  # noqa: E402
from shared.kafka import ensure_topics  # noqa: E402
from shared.mongo import connect, database  # noqa: E402
from shared.settings import PlatformSettings  # noqa: E402

BODY = json.dumps(
    {
        "menu_item_code": "errand.groceries",
        "grid_id": "xgll-01",
        "resident_name": "王仁柱",
        "resident_phone": "13800001234",
        "text": "十斤米，一桶油",
    },
    ensure_ascii=False,
).encode()


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0
    server_cpu: float = 0.0  # seconds of CPU the server process used during the phase

    @property
    def cpu_per_request_us(self) -> float:
        return self.server_cpu / len(self.latencies) * 1e6 if self.latencies else float("nan")

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    def line(self, name: str) -> str:
        return (
            f"{name:<28} {self.rate:8.0f} req/s   p50 {self.percentile(50):6.1f} ms   "
            f"p99 {self.percentile(99):6.1f} ms   server CPU {self.cpu_per_request_us:5.0f} us/req   "
            f"n={len(self.latencies)} statuses={self.statuses}"
        )


class Connection:
    """Minimal HTTP/1.1 keep-alive client: the load generator must cost less than the server it measures."""

    def __init__(self, port: int, path: str, headers: dict[str, str]) -> None:
        self.port, self.path = port, path
        head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
                f"Content-Length: {len(BODY)}"] + [f"{k}: {v}" for k, v in headers.items()]  # fmt: skip
        self.request = ("\r\n".join(head) + "\r\n\r\n").encode() + BODY
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def closed_loop(port: int, path: str, headers: dict[str, str], seconds: float, concurrency: int) -> Result:
    result = Result()
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        connection = Connection(port, path, headers)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                status = await connection.send()
                result.latencies.append(time.perf_counter() - started)
                result.statuses[status] = result.statuses.get(status, 0) + 1
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    return result


async def open_loop(port: int, path: str, headers: dict[str, str], seconds: float, rate: float) -> Result:
    """Requests start on a fixed schedule whatever the answers do; idle connections are reused."""
    result = Result()
    idle: list[Connection] = [Connection(port, path, headers) for _ in range(64)]
    tasks: set[asyncio.Task[None]] = set()

    async def one(scheduled: float) -> None:
        connection = idle.pop() if idle else Connection(port, path, headers)
        try:
            status = await connection.send()
        except OSError:  # refused or reset under overload: counted, not a crash of the benchmark
            status = 0
            connection.close()
            connection = Connection(port, path, headers)
        result.latencies.append(time.perf_counter() - scheduled)  # from the scheduled start: no coordinated omission
        result.statuses[status] = result.statuses.get(status, 0) + 1
        idle.append(connection)

    started = time.perf_counter()
    total = int(seconds * rate)
    for number in range(total):
        scheduled = started + number / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    result.elapsed = time.perf_counter() - started
    for connection in idle:
        connection.close()
    return result


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(pid: int, phase: Coroutine[Any, Any, Result]) -> Result:
    started = cpu_seconds(pid)
    result = asyncio.run(phase)
    result.server_cpu = cpu_seconds(pid) - started
    return result


def cache_reads(port: int) -> int:
    """Database reads the server's reference cache made on callers' behalf so far (bench/intake/server.py)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/cache-reads", timeout=5) as response:
        return int(json.load(response)["database_reads"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def prepare(settings: PlatformSettings) -> str:
    client = connect(settings)
    try:
        db = database(client, settings)
        await reference_data.load(db, reference_data.read_yaml(ROOT / "deploy" / "demo" / "chengzhong.yaml"))
        key = await ApiKeyRepository(db).create(district_id="chengzhong", role=Role.CLIENT_APP, subject="bench")
    finally:
        await client.close()
    await ensure_topics(settings.kafka_bootstrap, settings.topics())
    return key


async def drop(settings: PlatformSettings) -> None:
    client = connect(settings)
    await client.drop_database(settings.mongodb_database)
    await client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="per phase of each round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating bare/submit rounds")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=1000.0, help="offered load of the open-loop phase")
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    env = {
        "KAFKA_BOOTSTRAP": os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        "MONGODB_URI": os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017"),
        "MONGODB_DATABASE": f"grid_bench_{run}",
        "GRID_TOPIC_PREFIX": f"bench{run}.",
        "INTAKE_RATE_PER_SECOND": "1000000",
        "INTAKE_RATE_BURST": "1000000",
        "GRID_RATE_PER_ADDRESS_PER_SECOND": "1000000",  # the load comes from one address
        "GRID_RATE_ADDRESS_BURST": "1000000",
        "GRID_LOG_LEVEL": "WARNING",
        # A throw-away local run: the public development signing key is fine here.
        "GRID_ENVIRONMENT": "development",
    }
    settings = PlatformSettings(**env)  # type: ignore[arg-type]
    key = asyncio.run(prepare(settings))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("server.py"))],
        env={**os.environ, **env, "INTAKE_PORT": str(port)},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("intake did not start") from None
                time.sleep(0.2)
        headers = {"X-API-Key": key}
        submit_path = "/v1/districts/chengzhong/requests"
        # Warm up: the producer connects lazily, the reference cache fills.
        asyncio.run(closed_loop(port, submit_path, headers, 2, 4))
        reads_before = cache_reads(port)
        rounds: list[tuple[Result, Result]] = []
        for _ in range(args.rounds):
            bare = measured(server.pid, closed_loop(port, "/bench/bare", headers, args.seconds, args.concurrency))
            submit = measured(server.pid, closed_loop(port, submit_path, headers, args.seconds, args.concurrency))
            rounds.append((bare, submit))
        reads_after = cache_reads(port)
        fixed = asyncio.run(open_loop(port, submit_path, headers, args.seconds, args.rate))
    finally:
        server.terminate()
        server.wait(15)
        asyncio.run(drop(settings))

    print(
        f"intake benchmark: {args.rounds} rounds of {args.seconds:g}s bare + {args.seconds:g}s submit, "
        f"{args.concurrency} connections, one server process"
    )
    ratios, cpu_ratios = [], []
    for number, (bare, submit) in enumerate(rounds, 1):
        ratios.append(submit.rate / bare.rate if bare.rate else 0.0)
        print(bare.line(f"round {number} bare 202 (no Kafka)"))
        print(submit.line(f"round {number} submit (acks=all)"))
        cpu_ratio = bare.cpu_per_request_us / submit.cpu_per_request_us
        cpu_ratios.append(cpu_ratio)
        print(f"round {number} ratio submit/bare: {ratios[-1]:.0%} by rate, {cpu_ratio:.0%} by server CPU per request")
    submitted = sum(len(s.latencies) for _, s in rounds)
    print(f"ratio submit/bare, median of {len(ratios)} rounds: {statistics.median(ratios):.0%} (target >= 50%)")
    print(f"ratio of server CPU per request bare/submit, median: {statistics.median(cpu_ratios):.0%}")
    reads = "n/a (no reference cache)" if reads_before < 0 else reads_after - reads_before
    print(f"reference cache database reads during {submitted} measured submissions: {reads}")
    print(fixed.line(f"submit at {args.rate:g}/s offered"))
    print(f"p99 at {args.rate:g}/s offered: {fixed.percentile(99):.1f} ms (target <= 50 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
