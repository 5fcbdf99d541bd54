"""End-to-end benchmark of the running platform, through its public API only.

    .venv/bin/python -m bench.e2e                               # quick: 1k stored, 1k volunteers, burst 200
    .venv/bin/python -m bench.e2e --full --json e2e.json        # the matrix the targets are about
    .venv/bin/python -m bench.e2e --stored 1000,10000 --volunteers 100 --burst 300 --rate 20 --cap 180

Drives the services already running (intake on INTAKE_PORT, notify on NOTIFY_PORT, default 8000/8002; start
them with deploy/native/services.sh) in districts `e2e-v<volunteers>` of the database and topic prefix in the
environment (MONGODB_DATABASE, GRID_TOPIC_PREFIX: use the same values the services got). Submissions go to
intake with a `client_app` key; decisions are read from notify's operator stream with an `operator` key, both
made with `gridctl keys create`. The database is written only to preload volunteers (or through the admin API
with --volunteers-via api) and closed history, and to remove what earlier phases left open. Per scenario
(N stored, V volunteers):

1. idle CPU of dispatch and the database (and the other services) over --idle-seconds, from /proc;
2. the database's own sequential single-document insert and update rates from this process;
3. a burst of --burst submissions (--concurrency connections): submissions/s accepted, requests/s drained
   (first submit to last first decision), submit → first decision p50/p99;
4. a closed loop of --closed-users clients (submit, wait for the decision, repeat) for --closed-seconds;
5. --rate submissions/s offered for --open-seconds, latency from each submission's due time.

Each phase waits at most --cap seconds from its first submission; what was not decided by then is reported as
undecided (percentiles count it as infinite). Targets are printed with met/missed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from bench.e2e import measure, population
from bench.e2e.measure import DbRate, Flow, IdleCpu
from bench.e2e.population import Shape
from bench.e2e.wire import Connection, OperatorStream, Submitter
from shared.mongo import connect, database
from shared.settings import PlatformSettings

ROOT: Final = Path(__file__).resolve().parents[2]
FULL_SCENARIOS: Final = ((1000, 100), (1000, 1000), (1000, 10_000), (1000, 100_000), (10_000, 1000), (100_000, 1000))
TARGET_DRAIN: Final = 200.0
TARGET_DRAIN_BURST: Final = 2000
TARGET_P99: Final = 1.0
TARGET_P99_RATE: Final = 50.0
TARGET_DRAIN_RATIO: Final = 0.8
TARGET_IDLE_PERCENT: Final = 5.0


def say(line: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {line}", flush=True)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def counts(text: str) -> list[int]:
    values = [int(part.replace("_", "").replace("k", "000")) for part in text.split(",") if part.strip()]
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError("a comma-separated list of non-negative integers (1k = 1000)")
    return values


def arguments(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.e2e", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--full", action="store_true", help="the target matrix: " + str(FULL_SCENARIOS))
    p.add_argument("--stored", type=counts, help="closed requests stored per district before measuring (1000)")
    p.add_argument("--volunteers", type=counts, help="volunteers in the district (1000); with --stored: every pair")
    p.add_argument("--burst", type=int, help="submissions of the burst phase (200; --full 2000)")
    p.add_argument("--concurrency", type=int, default=32, help="connections submitting the burst")
    p.add_argument("--closed-users", type=int, default=4, help="clients of the closed loop")
    p.add_argument("--closed-seconds", type=float, help="closed-loop duration (20; --full 30)")
    p.add_argument("--rate", type=float, default=TARGET_P99_RATE, help="submissions/s of the fixed-rate phase")
    p.add_argument("--open-seconds", type=float, help="fixed-rate duration (10; --full 30)")
    p.add_argument("--cap", type=float, help="seconds a phase waits for first decisions (120; --full 300)")
    p.add_argument("--idle-seconds", type=float, default=20.0, help="idle CPU window (0 skips)")
    p.add_argument("--db-seconds", type=float, default=3.0, help="per database-rate measurement (0 skips)")
    p.add_argument("--phases", default="idle,db,burst,closed,open", help="which phases to run")
    p.add_argument("--per-grid", type=int, default=50, help="volunteers per grid (grids grow with volunteers)")
    p.add_argument("--volunteers-via", choices=("db", "api"), default="db", help="preload volunteers how")
    p.add_argument("--intake-port", type=int, default=int(os.environ.get("INTAKE_PORT", "8000")))
    p.add_argument("--notify-port", type=int, default=int(os.environ.get("NOTIFY_PORT", "8002")))
    p.add_argument("--run-dir", type=Path, default=Path(os.environ.get("GRID_RUN_DIR", ROOT / ".run")))
    p.add_argument("--label", default="", help="recorded in the JSON (e.g. before / after)")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--setup-only", action="store_true", help="create districts, volunteers and history, then stop")
    p.add_argument("--keep-open", action="store_true", help="leave this run's open requests in place at the end")
    p.add_argument("--cleanup", action="store_true", help="at the end remove the bench districts entirely")
    p.add_argument("--seed", type=int, default=20261202)
    args = p.parse_args(argv)
    full = args.full
    if args.stored is None and args.volunteers is None:
        args.scenarios = list(FULL_SCENARIOS) if full else [(1000, 1000)]
    else:
        stored = args.stored or [1000]
        volunteers = args.volunteers or [1000]
        args.scenarios = sorted({(n, v) for n in stored for v in volunteers})
    args.burst = args.burst or (2000 if full else 200)
    args.closed_seconds = args.closed_seconds or (30.0 if full else 20.0)
    args.open_seconds = args.open_seconds or (30.0 if full else 10.0)
    args.cap = args.cap or (300.0 if full else 120.0)
    args.phases = {part.strip() for part in args.phases.split(",") if part.strip()}
    return args


@dataclass
class Scenario:
    stored: int
    volunteers: int
    district_id: str
    load_before: str = ""
    load_after: str = ""
    probe: str = ""
    preload_seconds: dict[str, float] = field(default_factory=dict)
    idle: IdleCpu | None = None
    inserts: DbRate | None = None
    updates: DbRate | None = None
    flows: dict[str, Flow] = field(default_factory=dict)
    backlog: dict[str, tuple[int, int, float]] = field(default_factory=dict)  # before phase: (at start, left, s)
    stream: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "stored": self.stored,
            "volunteers": self.volunteers,
            "district_id": self.district_id,
            "loadavg_before": self.load_before,
            "loadavg_after": self.load_after,
            "probe_first_decision": self.probe,
            "preload_seconds": self.preload_seconds,
            "idle_cpu": self.idle.summary() if self.idle else None,
            "db_insert": self.inserts.summary() if self.inserts else None,
            "db_update": self.updates.summary() if self.updates else None,
            "phases": {name: flow.summary() for name, flow in self.flows.items()},
            "backlog_before": {
                name: {"undecided_at_start": a, "undecided_left": b, "waited_s": w}
                for name, (a, b, w) in self.backlog.items()
            },
            "operator_stream": self.stream,
        }


async def probe(submitter: Submitter, stream: OperatorStream, within: float) -> str:
    """One submission before measuring: warms the path and shows what dispatch decides for this district."""
    connection = Connection(submitter.port)
    try:
        started = time.perf_counter()
        rid = await submitter.submit(connection)
    finally:
        connection.close()
    if rid is None:
        return f"submission failed: {dict(submitter.statuses)} {submitter.errors[-1:]}"
    submitter.statuses.clear()
    decision = await stream.wait_for(rid, within)
    if decision is None:
        return f"no decision within {within:.0f}s"
    return f"{decision.kind} after {decision.at - started:.2f}s"


async def backlog(result: Scenario, stream: OperatorStream, cap: float, phase: str) -> None:
    at_start, left, waited = await measure.drain_backlog(list(result.flows.values()), stream, cap, say)
    result.backlog[phase] = (at_start, left, waited)
    if at_start:
        say(f"  before {phase}: {at_start:,} undecided from earlier phases, {left:,} left after {waited:.0f}s")


async def run_scenario(args: argparse.Namespace, settings: PlatformSettings, stored: int, volunteers: int) -> Scenario:
    shape = Shape(volunteers=volunteers, per_grid=args.per_grid)
    result = Scenario(stored, volunteers, shape.district_id, load_before=loadavg())
    say(f"scenario: {stored:,} stored, {volunteers:,} volunteers in {shape.district_id} (load {result.load_before})")
    client = connect(settings)
    db = database(client, settings)
    try:
        started = time.perf_counter()
        population.load_structure(shape)
        result.preload_seconds["structure"] = time.perf_counter() - started
        result.preload_seconds["volunteers"] = await population.ensure_volunteers(
            db,
            shape,
            via=args.volunteers_via,
            intake_url=f"http://127.0.0.1:{args.intake_port}",
            progress=say,
            seed=args.seed,
        )
        await population.remove_live(db, [shape.district_id], progress=say)
        _, result.preload_seconds["history"] = await population.top_up_history(
            db, shape, stored, progress=say, seed=args.seed
        )
        if args.setup_only:
            return result
        client_key = population.create_key(shape.district_id, "client_app")
        operator_key = population.create_key(shape.district_id, "operator")
        stream = OperatorStream(args.notify_port, shape.district_id, operator_key)
        await stream.start()
        await stream.settle()
        submitter = Submitter(args.intake_port, shape, client_key, seed=args.seed + stored + volunteers)
        try:
            result.probe = await probe(submitter, stream, min(args.cap, 120.0))
            say(f"  probe: first decision {result.probe}")
            await asyncio.sleep(5)  # let the probe's side effects settle before measuring rest
            if "idle" in args.phases and args.idle_seconds > 0:
                say(f"  idle CPU over {args.idle_seconds:g}s ...")
                result.idle = await measure.idle_cpu(args.run_dir, args.idle_seconds, stream)
                say("  idle CPU (% of one core): " + ", ".join(f"{k} {v:.1f}" for k, v in result.idle.percent.items()))
            if "db" in args.phases and args.db_seconds > 0:
                result.inserts, result.updates = await measure.database_rates(db, shape.district_id, args.db_seconds)
                say(f"  database: {result.inserts.rate:,.0f} inserts/s, {result.updates.rate:,.0f} updates/s")
            if "burst" in args.phases:
                say(f"  burst of {args.burst:,} ...")
                flow = await measure.burst(submitter, stream, args.burst, args.concurrency, args.cap, say)
                result.flows["burst"] = flow
                say("  " + line_of(flow))
            if "closed" in args.phases:
                await backlog(result, stream, args.cap, "closed")
                say(f"  closed loop, {args.closed_users} clients for {args.closed_seconds:g}s ...")
                flow = await measure.closed_loop(
                    submitter, stream, args.closed_users, args.closed_seconds, args.cap, say
                )
                result.flows["closed"] = flow
                say("  " + line_of(flow))
            if "open" in args.phases:
                await backlog(result, stream, args.cap, "open")
                say(f"  {args.rate:g}/s offered for {args.open_seconds:g}s ...")
                flow = await measure.open_loop(submitter, stream, args.rate, args.open_seconds, args.cap, say)
                result.flows["open"] = flow
                say("  " + line_of(flow))
            await backlog(result, stream, args.cap, "end")
        finally:
            result.stream = {
                "events": stream.events,
                "kinds": dict(stream.kinds),
                "controls": dict(stream.controls),
                "reconnects": stream.reconnects,
                "submit_errors": submitter.errors[:5],
            }
            await stream.stop()
        if not args.keep_open:
            await population.remove_live(db, [shape.district_id], progress=say)
    finally:
        await client.close()
        result.load_after = loadavg()
    return result


def seconds(value: float) -> str:
    if math.isinf(value):
        return "undecided"
    if math.isnan(value):
        return "-"
    return f"{value * 1000:,.0f} ms" if value < 1 else f"{value:,.1f} s"


def rate(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.1f}"


def line_of(flow: Flow) -> str:
    s = flow.summary()
    return (
        f"{flow.name}: {s['accepted']:,}/{s['offered']:,} accepted ({rate(s['submit_per_s'])}/s), "
        f"{s['decided']:,} decided {s['decisions']}, drained {rate(s['drain_per_s'])}/s, "
        f"p50 {seconds(s['p50_s'])}, p99 {seconds(s['p99_s'])}"
        + (f", CAP of {s['waited_s']:.0f}s reached" if s["cap_reached"] else "")
        + (f", statuses {s['statuses']}" if set(s["statuses"]) != {"202"} else "")
    )


def table(results: list[Scenario], args: argparse.Namespace) -> str:
    head = (
        "| stored | volunteers | db insert/s | db update/s | idle CPU dispatch+db | burst accepted/s | "
        "burst drained/s (decided/accepted) | drained ÷ db update | burst p50 / p99 | closed loop req/s, p50 / p99 | "
        f"{args.rate:g}/s offered: p50 / p99 (decided/accepted) | load avg before → after |"
    )
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        b, c, o = r.flows.get("burst"), r.flows.get("closed"), r.flows.get("open")
        update = r.updates.rate if r.updates else math.nan
        cells = [
            f"{r.stored:,}",
            f"{r.volunteers:,}",
            rate(r.inserts.rate) if r.inserts else "-",
            rate(update),
            f"{r.idle.percent['dispatch+database']:.1f} %" if r.idle else "-",
            rate(b.submit_rate) if b else "-",
            f"{rate(b.drain_rate)} ({len(b.decided)}/{b.accepted})" if b else "-",
            f"{b.drain_rate / update:.1%}" if b and not math.isnan(update) else "-",
            f"{seconds(b.p(50))} / {seconds(b.p(99))}" if b else "-",
            f"{rate(len(c.decided) / c.waited if c.waited else math.nan)}, {seconds(c.p(50))} / {seconds(c.p(99))}"
            if c
            else "-",
            f"{seconds(o.p(50))} / {seconds(o.p(99))} ({len(o.decided)}/{o.accepted})" if o else "-",
            f"{r.load_before} → {r.load_after}",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def targets(results: list[Scenario]) -> list[str]:
    lines: list[str] = []
    bursts = [r for r in results if "burst" in r.flows]
    if bursts:
        r = min(bursts, key=lambda s: (s.stored, -s.flows["burst"].offered))
        b = r.flows["burst"]
        complete = len(b.decided) == b.accepted
        note = (
            "" if b.offered >= TARGET_DRAIN_BURST else f" (burst of {b.offered}, not {TARGET_DRAIN_BURST}: indicative)"
        )
        lines.append(
            f"drain >= {TARGET_DRAIN:g} requests/s for a burst of {TARGET_DRAIN_BURST}: {rate(b.drain_rate)}/s at "
            f"{r.stored:,} stored, {r.volunteers:,} volunteers{note}"
            + ("" if complete else f", only {len(b.decided)}/{b.accepted} decided within the cap")
            + f" -> {verdict(b.drain_rate >= TARGET_DRAIN and complete)}"
        )
    for r in results:
        o = r.flows.get("open")
        if o is None:
            continue
        offered = o.offered / max(1e-9, o.submitted_at - o.started_at) if o.offered > 1 else math.nan
        ok = o.p(99) <= TARGET_P99 if abs(o.rate - TARGET_P99_RATE) < 1e-9 else None
        lines.append(
            f"submit -> first decision p99 <= {TARGET_P99:g} s at {TARGET_P99_RATE:g}/s offered: {seconds(o.p(99))} at "
            f"{o.name} ({rate(offered)}/s achieved), {r.stored:,} stored, {r.volunteers:,} volunteers -> {verdict(ok)}"
        )
    by_volunteers: dict[int, list[Scenario]] = {}
    for r in bursts:
        by_volunteers.setdefault(r.volunteers, []).append(r)
    for volunteers, group in sorted(by_volunteers.items()):
        if len(group) < 2:
            continue
        low, high = min(group, key=lambda s: s.stored), max(group, key=lambda s: s.stored)
        ratio = high.flows["burst"].drain_rate / low.flows["burst"].drain_rate
        lines.append(
            f"drain with {high.stored:,} stored >= {TARGET_DRAIN_RATIO:.0%} of drain with {low.stored:,} "
            f"({volunteers:,} volunteers): {rate(high.flows['burst'].drain_rate)} / "
            f"{rate(low.flows['burst'].drain_rate)}"
            f" = {ratio:.0%} -> {verdict(None if math.isnan(ratio) else ratio >= TARGET_DRAIN_RATIO)}"
        )
    idle = [r for r in results if r.idle]
    if idle:
        r = max(idle, key=lambda s: s.stored)
        assert r.idle is not None
        value = r.idle.percent["dispatch+database"]
        lines.append(
            f"at rest with {r.stored:,} stored, dispatch + database < {TARGET_IDLE_PERCENT:g} % of one core: "
            f"{value:.1f} % (dispatch {r.idle.percent.get('dispatch', math.nan):.1f}, database "
            f"{r.idle.percent['database']:.1f}; machine {r.idle.machine_percent:.0f} % incl. other work) "
            f"-> {verdict(value < TARGET_IDLE_PERCENT)}"
        )
    return lines


def git_head() -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()[:120]


def write_json(path: Path, header: dict[str, Any], results: list[Scenario]) -> None:
    document = {**header, "loadavg_now": loadavg(), "scenarios": [r.summary() for r in results]}
    path.write_text(json.dumps(document, indent=1, default=str, allow_nan=True))


async def run(args: argparse.Namespace) -> int:
    settings = PlatformSettings()
    backend = measure.database_backend(args.run_dir)
    header = {
        "label": args.label,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_head(),
        "database": backend,
        "mongodb_database": settings.mongodb_database,
        "topic_prefix": settings.topic_prefix,
        "cpus": os.cpu_count(),
        "loadavg_start": loadavg(),
        "options": {
            k: (sorted(v) if isinstance(v, set) else str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
        },
    }
    say(f"e2e bench on {header['commit']!r}, {backend}, database {settings.mongodb_database!r}, "
        f"topic prefix {settings.topic_prefix!r}, load {header['loadavg_start']}")  # fmt: skip
    if settings.mongodb_database == "grid" or not settings.topic_prefix:
        say("  note: MONGODB_DATABASE / GRID_TOPIC_PREFIX look like the defaults; the bench districts are e2e-v*")
    results: list[Scenario] = []
    for stored, volunteers in args.scenarios:
        results.append(await run_scenario(args, settings, stored, volunteers))
        if args.json:  # after every scenario, so that a long run interrupted later keeps what it measured
            write_json(args.json, header, results)
    if args.cleanup:
        client = connect(settings)
        try:
            districts = sorted({Shape(v, args.per_grid).district_id for _, v in args.scenarios})
            await population.remove_all(database(client, settings), districts, progress=say)
        finally:
            await client.close()
    header["loadavg_end"] = loadavg()
    if args.setup_only:
        say("setup done")
        return 0
    print()
    print(f"e2e benchmark {args.label} — {header['commit']} — {backend} — load {header['loadavg_start']} → "
          f"{header['loadavg_end']} ({header['cpus']} CPUs)")  # fmt: skip
    print(table(results, args))
    print()
    for line in targets(results):
        print("target: " + line)
    if args.json:
        write_json(args.json, header, results)
        print(f"\nwrote {args.json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    sys.path.insert(0, str(ROOT))
    return asyncio.run(run(args))
