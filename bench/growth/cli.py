"""Growth benchmark: does the platform stay fast and quiet as a district's history grows?

    .venv/bin/python -m bench.growth --quick                  # small: 2k events, 1k requests, 200 streams
    .venv/bin/python -m bench.growth                          # 100k and 1M status events, 100k requests, 10k streams
    .venv/bin/python -m bench.growth --events 100000 --requests 100000 --streams 10000 --json growth.json

Each scenario runs on a fresh database and topic prefix of its own, with the four services started by this
benchmark (intake, dispatch, notify, console: `python -m services.<name>.main`) on the Kafka and FerretDB of the
environment (KAFKA_BOOTSTRAP, MONGODB_URI, GRID_RUN_DIR for the stack's pid files). First the empty database,
then one scenario per `--events` count, each with `--requests` closed requests:

1. preload: status events to the status topic (grid.status.v2, keyed by the district, pipelined), closed
   requests straight into the database (commands of 64); then the time until notify has consumed them all
   (a marker event published last, on the same partition, seen on a resident stream);
2. at rest: CPU of every process — the services, Kafka, FerretDB and PostgreSQL (all its backends) — over
   `--rest-seconds`, from /proc/<pid>/stat, as % of one core;
3. the operator console's dashboard reads (GET /console/api/board and /console/api/rates over 30 and 365
   days, an operator key): p50 / p99 of `--reads` sequential reads each;
4. reconnect storm: `--streams` resident streams each connect once and keep the id of their request's first
   event, disconnect; `--missed` events per request are published meanwhile; then every stream reconnects at
   once with Last-Event-ID. Measured: the time until every stream has all its missed events (and p50/p99 per
   stream), from `--workers` generator processes.

Figures are printed per scenario with ratios to the empty database; targets (issue 10) with met/missed, never
asserted. Only public interfaces are used (HTTP APIs, Kafka topics, the process list), so the benchmark
measures whatever notify and the console do internally.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import httpx
from aiokafka.admin import AIOKafkaAdminClient

from bench.e2e.measure import children_of, cpu_seconds, database_pids, percentile, pid_from
from bench.e2e.population import Shape, structure_spec
from bench.growth import preload
from bench.growth.streams import Generator, Stream, raise_fd_limit, run_all, worker
from services.admin import reference_data
from shared.api_keys import ApiKeyRepository, Role
from shared.kafka import EventPublisher, client_options, ensure_topics
from shared.mongo import connect, database
from shared.request_ids import access_token, mint_request_id
from shared.settings import PlatformSettings
from tests.e2e.service_processes import ServiceProcess

ROOT: Final = Path(__file__).resolve().parents[2]
SERVICES: Final = ("intake", "dispatch", "notify", "console")
SHAPE: Final = Shape(volunteers=1000)  # district e2e-v1000: 20 grids, 2 communities, the demo menu
TARGET_STORM_S: Final = 2.0
TARGET_DASHBOARD_MS: Final = 50.0
TARGET_DASHBOARD_RATIO: Final = 1.5
TARGET_REST_PERCENT: Final = 5.0
ANCHOR_SECONDS: Final = 900.0  # opening ten thousand streams one batch after another, then their first event
BACKFILL_GAUGE: Final = "dispatch_read_model_backfill_requests"


def say(line: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {line}", flush=True)


def counts(text: str) -> list[int]:
    try:
        values = [int(part.replace("_", "").replace("k", "000").replace("M", "000000")) for part in text.split(",")]
    except ValueError as exc:
        raise argparse.ArgumentTypeError("a comma-separated list of counts (100k, 1M)") from exc
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError("counts are non-negative")
    return values


def arguments(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.growth", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="small sizes: 2k events, 1k requests, 200 streams, 10 s rest")
    p.add_argument("--events", type=counts, help="status events per scenario, comma-separated (100k,1M)")
    p.add_argument("--requests", type=int, help="closed requests stored in each non-empty scenario (100000)")
    p.add_argument("--streams", type=int, help="resident streams of the reconnect storm (10000)")
    p.add_argument("--missed", type=int, default=2, help="events each stream misses while disconnected")
    p.add_argument("--rest-seconds", type=float, help="CPU sampled at rest (60)")
    p.add_argument(
        "--settle-percent",
        type=float,
        default=10.0,
        help="at rest starts once a 5 s window of services + database is below this %% of one core",
    )
    p.add_argument("--settle-timeout", type=float, help="seconds to wait for that, then measure anyway (900)")
    p.add_argument("--reads", type=int, help="sequential reads per dashboard endpoint (30)")
    p.add_argument(
        "--read-budget", type=float, default=60.0, help="seconds per dashboard endpoint; fewer reads when slower"
    )
    p.add_argument("--workers", type=int, default=2, help="stream generator processes")
    p.add_argument("--start-timeout", type=float, default=3600.0, help="seconds a service may take to be ready")
    p.add_argument("--storm-timeout", type=float, default=300.0, help="seconds a stream may take in the storm")
    p.add_argument(
        "--preload-live",
        action="store_true",
        help="preload while the services run (notify then works through every event's webhooks and messages)",
    )
    p.add_argument("--catch-up-timeout", type=float, default=7200.0, help="seconds notify may take to consume")
    p.add_argument("--run-dir", type=Path, default=Path(os.environ.get("GRID_RUN_DIR", ROOT / ".run")))
    p.add_argument("--keep", action="store_true", help="keep each scenario's database and topics")
    p.add_argument("--json", type=Path, help="write every figure here too")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    quick = args.quick
    args.events = args.events or ([2000] if quick else [100_000, 1_000_000])
    args.requests = args.requests if args.requests is not None else (1000 if quick else 100_000)
    args.streams = args.streams or (200 if quick else 10_000)
    args.rest_seconds = args.rest_seconds or (10.0 if quick else 60.0)
    args.reads = args.reads or (10 if quick else 30)
    args.settle_timeout = args.settle_timeout or (120.0 if quick else 900.0)
    return args


@dataclass
class Scenario:
    events: int
    requests: int
    preload_events_s: float = math.nan
    preload_requests_s: float = math.nan
    caught_up_s: float = math.nan  # end of preload -> notify had the last event
    settled_s: float = math.nan  # then until the services and the database went quiet (their side work done)
    rest_percent: dict[str, float] = field(default_factory=dict)  # process group -> % of one core
    dashboard_ms: dict[str, dict[str, float]] = field(default_factory=dict)  # endpoint -> p50/p99/max
    streams: int = 0
    anchored: int = 0
    start_s: dict[str, float] = field(default_factory=dict)  # service -> seconds until ready
    storm_s: float = math.nan  # reconnect until the last stream had all its missed events
    storm_p50_s: float = math.nan
    storm_p99_s: float = math.nan
    storm_failed: int = 0
    storm_errors: list[str] = field(default_factory=list)
    storm_controls: dict[str, int] = field(default_factory=dict)
    notify_storm_cpu_s: float = math.nan
    generators_cpu_s: float = math.nan

    @property
    def name(self) -> str:
        if not self.events and not self.requests:
            return "empty"
        return f"{self.events:,} events, {self.requests:,} requests"

    @property
    def rest_total(self) -> float:
        return sum(self.rest_percent.values())

    @property
    def rest_platform(self) -> float:
        """The issue's target: the services and the database (Kafka, a JVM with its own timers, apart)."""
        return sum(v for k, v in self.rest_percent.items() if k != "kafka")


class Stack:
    """The four services of one scenario, on its own database and topic prefix."""

    def __init__(self, args: argparse.Namespace) -> None:
        run = uuid.uuid4().hex[:8]
        self.env = {
            "MONGODB_DATABASE": f"grid_growth_{run}",
            "GRID_TOPIC_PREFIX": f"growth{run}.",
            "GRID_ID_SIGNING_KEY": secrets.token_urlsafe(48),
            "GRID_LOG_LEVEL": "WARNING",
            # Ten thousand streams come from this one address within a second.
            "GRID_RATE_PER_ADDRESS_PER_SECOND": "1000000",
            "GRID_RATE_ADDRESS_BURST": "1000000",
            "GRID_RATE_PER_KEY_PER_SECOND": "1000000",
            "GRID_RATE_KEY_BURST": "1000000",
        }
        self.settings = PlatformSettings(**self.env)  # type: ignore[arg-type]
        self.signing_key = self.settings.id_signing_key.get_secret_value().encode()
        logs = ROOT / "test-artifacts"
        logs.mkdir(exist_ok=True)
        self.services = {name: ServiceProcess(name, self.env, logs) for name in SERVICES}
        self.publisher = EventPublisher(self.settings.kafka_bootstrap, 60.0)
        self.district = SHAPE.district_id

    @property
    def topic(self) -> str:
        return self.settings.topics().status

    def mint(self) -> str:
        return mint_request_id(self.signing_key, self.district)

    def token(self, request_id: str) -> str:
        return access_token(self.signing_key, request_id)

    async def prepare(self) -> str:
        """Reference data and an operator key in the fresh database, and the topics."""
        client = connect(self.settings)
        try:
            db = database(client, self.settings)
            await reference_data.load(db, structure_spec(SHAPE))
            key = await ApiKeyRepository(db).create(district_id=self.district, role=Role.OPERATOR, subject="growth")
        finally:
            await client.close()
        await ensure_topics(self.settings.kafka_bootstrap, self.settings.topics())
        return key

    async def start_services(self, within: float) -> dict[str, float]:
        """Start each service and wait until it is ready; returns seconds per service. Dispatch builds its read
        models from the stored requests first (once per database): its progress is shown while it does."""
        took: dict[str, float] = {}
        for name, service in self.services.items():
            started = time.perf_counter()
            waiting = asyncio.create_task(asyncio.to_thread(service.start, within))
            while not waiting.done():
                await asyncio.wait({waiting}, timeout=15)
                if not waiting.done():
                    say(f"  {name} not ready after {time.perf_counter() - started:.0f}s{await self.progress(name)}")
            await waiting
            took[name] = time.perf_counter() - started
        return took

    async def progress(self, name: str) -> str:
        if name != "dispatch":
            return ""
        try:
            async with httpx.AsyncClient(base_url=self.services[name].url, timeout=5) as client:
                metrics = (await client.get("/metrics")).text
        except httpx.HTTPError:
            return ""
        for line in metrics.splitlines():
            if line.startswith(BACKFILL_GAUGE + " "):
                return f": read-model backfill read {float(line.split()[1]):,.0f} stored requests"
        return ""

    async def stop(self, keep: bool) -> None:
        for service in self.services.values():
            service.stop()
        await self.publisher.close()
        if keep:
            return
        client = connect(self.settings)
        await client.drop_database(self.settings.mongodb_database)
        await client.close()
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap, **client_options())
        await admin.start()
        try:
            await admin.delete_topics(list(self.settings.topics().partition_counts()))
        finally:
            await admin.close()

    async def seen_by_notify(self, within: float) -> float:
        """Publish a marker last and wait until a resident stream shows it: notify consumed everything before it
        (same key, same partition, in order). Returns seconds."""
        started = time.perf_counter()
        marker = self.mint()
        await self.publisher.publish(self.topic, preload.status_event(self.district, marker, 1))
        stream = Stream(marker, self.token(marker))
        errors = await run_all([stream], self.services["notify"].port, self.district, until_first=True, within=within)
        if stream.first_id is None:
            raise RuntimeError(f"notify did not deliver the marker within {within:.0f}s: {errors}")
        return time.perf_counter() - started


def process_groups(stack: Stack, run_dir: Path) -> dict[str, list[int]]:
    groups = {name: [s.process.pid] for name, s in stack.services.items() if s.process is not None}
    kafka = pid_from(run_dir, "kafka")
    groups["kafka"] = [kafka, *children_of(kafka)] if kafka is not None else []
    groups["database"] = database_pids(run_dir)
    return groups


async def rest_cpu(stack: Stack, run_dir: Path, seconds: float) -> dict[str, float]:
    """% of one core per process group over `seconds`; pids that start or end meanwhile count from what exists."""

    def sample(groups: dict[str, list[int]]) -> dict[int, float]:
        found: dict[int, float] = {}
        for pids in groups.values():
            for pid in pids:
                with contextlib.suppress(OSError):
                    found[pid] = cpu_seconds(pid)
        return found

    first = process_groups(stack, run_dir)
    before, started = sample(first), time.perf_counter()
    await asyncio.sleep(seconds)
    last = process_groups(stack, run_dir)
    after, wall = sample(last), time.perf_counter() - started
    percent = {}
    for name in first.keys() | last.keys():
        pids = set(first.get(name, [])) | set(last.get(name, []))
        used = sum(max(0.0, after.get(pid, before.get(pid, 0.0)) - before.get(pid, 0.0)) for pid in pids)
        percent[name] = 100 * used / wall
    return percent


DASHBOARD: Final = {
    "board": ("/console/api/board", {}),
    "rates 30 d": ("/console/api/rates", {"group_by": "community"}),
    "rates 365 d": ("/console/api/rates", {"group_by": "community", "start": "365d"}),
}


async def dashboard(stack: Stack, key: str, reads: int, budget: float) -> dict[str, dict[str, float]]:
    figures = {}
    async with httpx.AsyncClient(base_url=stack.services["console"].url, timeout=120) as client:
        for name, (path, params) in DASHBOARD.items():
            query = dict(params)
            if query.get("start") == "365d":
                now = datetime.now(UTC)
                query["start"] = now.replace(year=now.year - 1).isoformat()
            latencies: list[float] = []
            spent = 0.0
            while len(latencies) < reads and spent < budget:  # a read of many seconds is reported, not repeated
                started = time.perf_counter()
                response = await client.get(path, params=query, headers={"X-API-Key": key})
                latencies.append((time.perf_counter() - started) * 1000)
                spent += latencies[-1] / 1000
                if response.status_code != 200:
                    raise RuntimeError(f"console {path}: {response.status_code} {response.text[:200]}")
            figures[name] = {
                "p50": percentile(latencies, 50),
                "p99": percentile(latencies, 99),
                "max": max(latencies),
                "reads": len(latencies),
            }
    return figures


async def storm(stack: Stack, scenario: Scenario, args: argparse.Namespace) -> None:
    port, district = stack.services["notify"].port, stack.district
    followed = [stack.mint() for _ in range(args.streams)]
    tokens = {rid: stack.token(rid) for rid in followed}
    anchors = [preload.status_event(district, r, 1) for r in followed]
    generators = [await Generator.start_worker() for _ in range(max(1, min(args.workers, len(followed))))]
    try:
        # Every stream is open before its request's first event is published: a stream opened without a
        # cursor gets what notify holds in memory (the district's latest events), not the request's history.
        shares = [followed[g :: len(generators)] for g in range(len(generators))]
        anchor = {"op": "anchor", "port": port, "district": district, "within": ANCHOR_SECONDS}
        opened = await asyncio.gather(
            *(
                g.ask({**anchor, "clients": [[r, tokens[r]] for r in share]}, ANCHOR_SECONDS)
                for g, share in zip(generators, shares, strict=True)
            )
        )
        say(f"  {sum(a['connected'] for a in opened):,} streams open; publishing one event for each")
        await preload.publish_pipelined(stack.publisher, stack.topic, anchors)
        answers = await asyncio.gather(*(g.next_answer(ANCHOR_SECONDS + 60) for g in generators))
        positions: dict[str, str] = {}
        for answer in answers:
            positions.update(answer["positions"])
        scenario.anchored = len(positions)
        say(f"  {len(positions):,} of {len(followed):,} streams had it and disconnected")
        if len(positions) < len(followed):
            say(f"  e.g. {[e for a in opened + answers for e in a['errors']][:3]}")
        missed = [
            preload.status_event(district, r, sequence) for r in followed for sequence in range(2, 2 + args.missed)
        ]
        await preload.publish_pipelined(stack.publisher, stack.topic, missed)
        await stack.seen_by_notify(args.catch_up_timeout)  # the storm measures resuming, not Kafka's lag
        wanted = {r: [f"{r}:{s}" for s in range(2, 2 + args.missed)] for r in followed}
        notify_pid = stack.services["notify"].process.pid if stack.services["notify"].process else os.getpid()
        cpu_before = cpu_seconds(notify_pid)
        started = time.perf_counter()
        command = {"op": "storm", "port": port, "district": district, "within": args.storm_timeout}
        answers = await asyncio.gather(
            *(
                g.ask(
                    {**command, "clients": [[r, tokens[r], positions[r], wanted[r]] for r in share if r in positions]},
                    args.storm_timeout + 600,
                )
                for g, share in zip(generators, shares, strict=True)
            )
        )
        scenario.notify_storm_cpu_s = cpu_seconds(notify_pid) - cpu_before
        done = [t - started for answer in answers for t in answer["done"].values()]
        scenario.streams = len(positions)
        scenario.storm_failed = sum(a["failed"] for a in answers)
        scenario.storm_errors = [e for a in answers for e in a["errors"]][:5]
        for answer in answers:
            for kind, n in answer["controls"].items():
                scenario.storm_controls[kind] = scenario.storm_controls.get(kind, 0) + n
        scenario.generators_cpu_s = sum(a["cpu_s"] for a in answers)
        if done:
            scenario.storm_s = max(done) if not scenario.storm_failed else math.inf
            scenario.storm_p50_s = percentile(done, 50)
            scenario.storm_p99_s = percentile(done + [math.inf] * scenario.storm_failed, 99)
    finally:
        await asyncio.gather(*(g.close() for g in generators), return_exceptions=True)


async def preload_history(stack: Stack, scenario: Scenario) -> None:
    say(f"  database {stack.settings.mongodb_database}, topics {stack.env['GRID_TOPIC_PREFIX']}*")
    if scenario.requests:
        client = connect(stack.settings)
        try:
            scenario.preload_requests_s = await preload.closed_requests(
                database(client, stack.settings), SHAPE, scenario.requests, say
            )
        finally:
            await client.close()
    if scenario.events:
        scenario.preload_events_s = await preload.history_events(
            stack.publisher, stack.topic, stack.district, scenario.events, stack.mint, say
        )


async def run_scenario(scenario: Scenario, args: argparse.Namespace) -> None:
    say(f"scenario: {scenario.name}")
    stack = Stack(args)
    try:
        key = await stack.prepare()
        if not args.preload_live:
            # History that accumulated before the services started, as on a platform running for a year: its
            # webhooks and messages went out when it happened (notify's side-effect group starts at the log's
            # end), notify reads recent history back from Kafka, dispatch builds its read models once.
            await preload_history(stack, scenario)
            scenario.start_s = await stack.start_services(args.start_timeout)
            say(f"  services up after the preload: {_seconds(scenario.start_s)}")
        else:
            scenario.start_s = await stack.start_services(args.start_timeout)
            say("  services up; preloading while they run")
            await preload_history(stack, scenario)
        scenario.caught_up_s = await stack.seen_by_notify(args.catch_up_timeout)
        say(f"  notify had every event {scenario.caught_up_s:.1f}s after the preload; at rest {args.rest_seconds:g}s")
        started = time.perf_counter()
        while time.perf_counter() - started < args.settle_timeout:
            window = await rest_cpu(stack, args.run_dir, 5.0)
            if sum(v for k, v in window.items() if k != "kafka") < args.settle_percent:
                break
        scenario.settled_s = time.perf_counter() - started
        say(f"  quiet after {scenario.settled_s:.0f}s more (services + database below {args.settle_percent:g}%)")
        scenario.rest_percent = await rest_cpu(stack, args.run_dir, args.rest_seconds)
        say(
            f"  at rest: services and database {scenario.rest_platform:.1f}% of one core, with Kafka "
            f"{scenario.rest_total:.1f}% " + _groups(scenario.rest_percent)
        )
        scenario.dashboard_ms = await dashboard(stack, key, args.reads, args.read_budget)
        figures = scenario.dashboard_ms.items()
        say(
            "  dashboard: "
            + ", ".join(f"{n} p50 {f['p50']:.1f} ms p99 {f['p99']:.1f} ms ({f['reads']:.0f} reads)" for n, f in figures)
        )
        await storm(stack, scenario, args)
        say(
            f"  storm: {scenario.streams:,} streams had their {args.missed} missed events in {scenario.storm_s:.2f}s "
            f"(p50 {scenario.storm_p50_s:.2f}s, p99 {scenario.storm_p99_s:.2f}s, {scenario.storm_failed} failed, "
            f"notify CPU {scenario.notify_storm_cpu_s:.1f}s, controls {scenario.storm_controls})"
        )
        if scenario.storm_errors:
            say(f"  storm errors e.g. {scenario.storm_errors}")
    finally:
        await stack.stop(args.keep)


def _seconds(took: dict[str, float]) -> str:
    return ", ".join(f"{name} {s:.0f}s" for name, s in took.items())


def _groups(percent: dict[str, float]) -> str:
    return "(" + ", ".join(f"{name} {value:.1f}%" for name, value in sorted(percent.items())) + ")"


def ratio(value: float, base: float) -> str:
    if math.isnan(value) or math.isnan(base) or base <= 0 or math.isinf(base):
        return "   n/a"
    return f"{value / base:5.2f}x"


def at_target_size(scenario: Scenario) -> bool:
    return scenario.streams >= 10_000 and scenario.events >= 1_000_000


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def report(scenarios: list[Scenario], args: argparse.Namespace) -> None:
    empty = scenarios[0]
    print()
    print(f"growth benchmark: {args.streams:,} streams, {args.missed} missed events each, {args.rest_seconds:g}s rest")
    header = f"{'scenario':<34} {'storm s':>8} {'ratio':>7} {'p99 s':>7} {'rest %':>7} {'ratio':>7} {'+kafka':>7}"
    for name in DASHBOARD:
        header += f" {name + ' p50 ms':>20} {'ratio':>7}"
    print(header)
    for s in scenarios:
        line = (
            f"{s.name:<34} {s.storm_s:8.2f} {ratio(s.storm_s, empty.storm_s):>7} {s.storm_p99_s:7.2f} "
            f"{s.rest_platform:7.1f} {ratio(s.rest_platform, empty.rest_platform):>7} {s.rest_total:7.1f}"
        )
        for name in DASHBOARD:
            p50 = s.dashboard_ms.get(name, {}).get("p50", math.nan)
            base = empty.dashboard_ms.get(name, {}).get("p50", math.nan)
            line += f" {p50:20.1f} {ratio(p50, base):>7}"
        print(line)
    print()
    for s in scenarios[1:]:
        worst = max((f["p50"] for f in s.dashboard_ms.values()), default=math.nan)
        worst_ratio = max(
            (f["p50"] / empty.dashboard_ms[n]["p50"] for n, f in s.dashboard_ms.items() if n in empty.dashboard_ms),
            default=math.nan,
        )
        print(
            f"{s.name}: storm {s.storm_s:.2f}s (target <= {TARGET_STORM_S:g}s for 10,000 streams at 1M events: "
            f"{verdict(s.storm_s <= TARGET_STORM_S) if at_target_size(s) else 'not this size'}); "
            f"dashboard p50 {worst:.1f} ms, {worst_ratio:.2f}x empty "
            f"(target <= {TARGET_DASHBOARD_MS:g} ms and <= {TARGET_DASHBOARD_RATIO}x: "
            f"{verdict(worst <= TARGET_DASHBOARD_MS and worst_ratio <= TARGET_DASHBOARD_RATIO)}); services and "
            f"database at rest {s.rest_platform:.1f}% of one core (target < {TARGET_REST_PERCENT:g}%: "
            f"{verdict(s.rest_platform < TARGET_REST_PERCENT)}) {_groups(s.rest_percent)}; "
            f"ready after the preload: {_seconds(s.start_s)}; {s.anchored:,} streams anchored"
        )
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")


async def run(args: argparse.Namespace) -> int:
    raise_fd_limit(args.streams + 4096)  # inherited by notify: the server side of every stream
    scenarios = [Scenario(0, 0)] + [Scenario(events, args.requests) for events in args.events]
    for scenario in scenarios:
        await run_scenario(scenario, args)
    report(scenarios, args)
    if args.json is not None:
        args.json.write_text(json.dumps([{**asdict(s), "name": s.name} for s in scenarios], indent=1, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    if args.worker:
        asyncio.run(worker())
        return 0
    return asyncio.run(run(args))
