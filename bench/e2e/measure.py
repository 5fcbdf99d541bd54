"""Measured phases: a burst, a closed loop, a fixed offered rate, idle CPU, and the database's own rates.

Latency is submit → first decision: from just before the POST (or, at a fixed offered rate, from the moment
the submission was due, so that a slow intake cannot hide queueing) to the moment the operator stream
delivered the request's first `request.offered` / `request.escalated` / `request.unmatched` (or `rejected`).
A request not decided within the phase's wait cap counts as undecided: percentiles then include it as
infinite, so a p99 over a phase that did not drain reads "> cap", never a flattering number.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from bench.e2e.wire import Connection, OperatorStream, Submitter
from shared.mongo import Document

Progress = Callable[[str], None]
TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    """Nearest rank; `inf` entries (undecided requests) sort last."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))]


@dataclass
class Flow:
    """One phase's submissions and what the operator stream showed for them."""

    name: str
    offered: int = 0
    rate: float = math.nan  # offered submissions/s, for the fixed-rate phase
    started_at: float = 0.0  # first submission sent (or due)
    submitted_at: float = 0.0  # last submission answered
    sent: dict[str, float] = field(default_factory=dict)  # request id -> send (or due) time
    statuses: Counter[int] = field(default_factory=Counter)
    decided: dict[str, tuple[float, str]] = field(default_factory=dict)  # request id -> (decision time, kind)
    waited: float = 0.0  # seconds from the first submission to the end of the wait
    cap_reached: bool = False

    @property
    def accepted(self) -> int:
        return len(self.sent)

    @property
    def submit_rate(self) -> float:
        span = self.submitted_at - self.started_at
        return self.accepted / span if span > 0 else math.nan

    @property
    def last_decision_at(self) -> float:
        return max((at for at, _ in self.decided.values()), default=math.nan)

    @property
    def drain_rate(self) -> float:
        """Requests decided per second, first submission to last first decision."""
        span = self.last_decision_at - self.started_at
        return len(self.decided) / span if self.decided and span > 0 else math.nan

    @property
    def latencies(self) -> list[float]:
        return [(self.decided[rid][0] - sent) if rid in self.decided else math.inf for rid, sent in self.sent.items()]

    def p(self, q: float) -> float:
        return percentile(self.latencies, q)

    def summary(self) -> dict[str, Any]:
        kinds = Counter(kind for _, kind in self.decided.values())
        decided = [self.decided[rid][0] - t for rid, t in self.sent.items() if rid in self.decided]
        return {
            "phase": self.name,
            "offered": self.offered,
            "accepted": self.accepted,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "submit_per_s": self.submit_rate,
            "decided": len(self.decided),
            "undecided": self.accepted - len(self.decided),
            "decisions": dict(kinds),
            "drain_per_s": self.drain_rate,
            "p50_s": self.p(50),
            "p99_s": self.p(99),
            "max_decided_s": max(decided, default=math.nan),
            "waited_s": self.waited,
            "cap_reached": self.cap_reached,
        }


def collect(flow: Flow, stream: OperatorStream) -> None:
    for rid in flow.sent:
        decision = stream.decisions.get(rid)
        if decision is not None:
            flow.decided[rid] = (decision.at, decision.kind)


async def wait_decided(flow: Flow, stream: OperatorStream, cap: float, progress: Progress) -> None:
    """Until every accepted request of the phase has its first decision, or `cap` seconds after the first send."""
    last = time.perf_counter()
    while True:
        collect(flow, stream)
        now = time.perf_counter()
        if len(flow.decided) >= flow.accepted:
            break
        if now - flow.started_at > cap:
            flow.cap_reached = True
            break
        if now - last >= 5:
            last = now
            progress(
                f"    {flow.name}: {len(flow.decided):,}/{flow.accepted:,} decided after {now - flow.started_at:,.0f}s"
            )
        await asyncio.sleep(0.05)
    flow.waited = time.perf_counter() - flow.started_at


async def drain_backlog(
    flows: list[Flow], stream: OperatorStream, cap: float, progress: Progress
) -> tuple[int, int, float]:
    """Before a phase: wait (at most `cap` s) until every earlier submission of the scenario is decided, so that
    a phase does not queue behind the previous one's leftovers. Returns (undecided at start, left, seconds)."""
    started = last = time.perf_counter()
    pending = {rid for flow in flows for rid in flow.sent if rid not in stream.decisions}
    at_start = len(pending)
    while pending and time.perf_counter() - started < cap:
        await asyncio.sleep(0.1)
        pending = {rid for rid in pending if rid not in stream.decisions}
        if time.perf_counter() - last >= 5:
            last = time.perf_counter()
            progress(f"    backlog of earlier phases: {len(pending):,} of {at_start:,} still undecided")
    return at_start, len(pending), time.perf_counter() - started


async def burst(
    submitter: Submitter, stream: OperatorStream, size: int, concurrency: int, cap: float, progress: Progress
) -> Flow:
    """`size` submissions as fast as `concurrency` connections go, then wait until they are all decided."""
    flow = Flow(f"burst {size}", offered=size)
    remaining = iter(range(size))

    async def worker() -> None:
        connection = Connection(submitter.port)
        try:
            for _ in remaining:
                sent = time.perf_counter()
                rid = await submitter.submit(connection)
                if rid is not None:
                    flow.sent[rid] = sent
        finally:
            connection.close()

    flow.started_at = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    flow.submitted_at = time.perf_counter()
    flow.statuses = Counter(submitter.statuses)
    submitter.statuses.clear()
    progress(
        f"    burst: {flow.accepted:,}/{size:,} accepted in {flow.submitted_at - flow.started_at:.1f}s "
        f"({flow.submit_rate:,.0f}/s); waiting for first decisions (cap {cap:.0f}s)"
    )
    await wait_decided(flow, stream, cap, progress)
    return flow


async def closed_loop(
    submitter: Submitter, stream: OperatorStream, users: int, seconds: float, cap: float, progress: Progress
) -> Flow:
    """`users` clients, each submitting and waiting for the first decision before the next; `seconds` of it."""
    flow = Flow(f"closed loop {users}", offered=0)
    deadline = time.perf_counter() + seconds

    async def user() -> None:
        connection = Connection(submitter.port)
        try:
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                flow.offered += 1
                rid = await submitter.submit(connection)
                if rid is None:
                    await asyncio.sleep(0.1)
                    continue
                flow.sent[rid] = sent
                await stream.wait_for(rid, max(0.0, cap - (sent - flow.started_at)))
        finally:
            connection.close()

    flow.started_at = time.perf_counter()
    await asyncio.gather(*(user() for _ in range(users)))
    flow.submitted_at = time.perf_counter()
    flow.statuses = Counter(submitter.statuses)
    submitter.statuses.clear()
    await wait_decided(flow, stream, cap, progress)
    return flow


async def open_loop(
    submitter: Submitter, stream: OperatorStream, rate: float, seconds: float, cap: float, progress: Progress
) -> Flow:
    """Submissions due every 1/`rate` s whatever the platform does; latency counts from the due time."""
    total = max(1, round(rate * seconds))
    flow = Flow(f"{rate:g}/s offered", offered=total, rate=rate)
    idle = [Connection(submitter.port) for _ in range(16)]
    tasks: set[asyncio.Task[None]] = set()
    answered: list[float] = []

    async def one(due: float) -> None:
        connection = idle.pop() if idle else Connection(submitter.port)
        rid = await submitter.submit(connection)
        answered.append(time.perf_counter())
        if rid is not None:
            flow.sent[rid] = due
        idle.append(connection)

    flow.started_at = time.perf_counter()
    for number in range(total):
        due = flow.started_at + number / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    flow.submitted_at = max(answered, default=flow.started_at)
    flow.statuses = Counter(submitter.statuses)
    submitter.statuses.clear()
    for connection in idle:
        connection.close()
    progress(f"    open loop: {flow.accepted:,}/{total:,} accepted; waiting for first decisions (cap {cap:.0f}s)")
    await wait_decided(flow, stream, cap, progress)
    return flow


# -- the database's own rates ------------------------------------------------------------------------------


@dataclass
class DbRate:
    operation: str
    count: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else math.nan

    def summary(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "count": self.count,
            "per_s": self.rate,
            "p50_ms": percentile(self.latencies, 50) * 1000,
            "p99_ms": percentile(self.latencies, 99) * 1000,
        }


async def database_rates(db: AsyncDatabase[Document], district_id: str, seconds: float) -> tuple[DbRate, DbRate]:
    """Sequential single-document writes from this process, one at a time, `seconds` each:
    `insert_one` of a request-sized document into a scratch collection, then `update_one({_id}, $inc)` of one
    stored request of the district (a collection of N+ documents, as dispatch's writes see it)."""
    scratch = db["bench_e2e_scratch"]
    sample = await db.requests.find_one({"district_id": district_id, "status": "rated"})
    document = {k: v for k, v in (sample or {"text": "x" * 3000}).items() if k != "_id"}
    latencies: list[float] = []
    started = time.perf_counter()
    n = 0
    while time.perf_counter() - started < seconds:
        t0 = time.perf_counter()
        await scratch.insert_one({**document, "_id": f"scratch-{os.getpid()}-{n}"})
        latencies.append(time.perf_counter() - t0)
        n += 1
    inserts = DbRate("insert_one (scratch collection)", n, time.perf_counter() - started, latencies)
    await scratch.drop()

    target_id = sample["_id"] if sample else "scratch-update"
    collection = db.requests if sample else scratch
    if sample is None:
        await scratch.insert_one({"_id": target_id, "bench_probe": 0})
    latencies = []
    started = time.perf_counter()
    n = 0
    while time.perf_counter() - started < seconds:
        t0 = time.perf_counter()
        await collection.update_one({"_id": target_id}, {"$inc": {"bench_probe": 1}})
        latencies.append(time.perf_counter() - t0)
        n += 1
    where = "a stored request, by _id" if sample else "scratch collection"
    updates = DbRate(f"update_one ({where})", n, time.perf_counter() - started, latencies)
    if sample is None:
        await scratch.drop()
    return inserts, updates


# -- CPU from /proc ------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


def pid_from(run_dir: Path, name: str) -> int | None:
    try:
        pid = int((run_dir / "pids" / f"{name}.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def children_of(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                found.append(int(entry.name))
    return found


def database_pids(run_dir: Path) -> list[int]:
    """FerretDB of the run directory and, when the stack runs PostgreSQL, its whole cluster (postmaster,
    backends, background writers): everything the database costs, whoever's queries it serves."""
    pids = [p for p in (pid_from(run_dir, "ferretdb"), pid_from(run_dir, "postgres")) if p is not None]
    postmaster = pid_from(run_dir, "postgres")
    return pids + (children_of(postmaster) if postmaster is not None else [])


def database_backend(run_dir: Path) -> str:
    """FerretDB's backend from its command line and environment; 'MongoDB or unknown' otherwise."""
    pid = pid_from(run_dir, "ferretdb")
    if pid is None:
        return "unknown (no FerretDB pid file)"
    try:
        text = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "FerretDB (backend unknown)"
    if b"postgres" in text.lower():
        return "FerretDB v1 on PostgreSQL"
    return "FerretDB v1 on SQLite"


@dataclass
class IdleCpu:
    seconds: float
    percent: dict[str, float]  # process group -> % of one core
    machine_percent: float  # whole machine, % of one core (other engineers' work included)
    stream_events: int  # events the operator stream saw meanwhile (should be 0 at rest)

    def summary(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "percent_of_one_core": self.percent,
            "machine_percent_of_one_core": self.machine_percent,
            "stream_events_during": self.stream_events,
        }


async def idle_cpu(run_dir: Path, seconds: float, stream: OperatorStream) -> IdleCpu:
    """CPU per process group over `seconds`; per-pid deltas, so a database backend that starts or ends within
    the window adds what it used since the first sample (or until the last one seen)."""

    def groups() -> dict[str, list[int]]:
        found = {
            name: [pid] for name in ("dispatch", "notify", "intake", "console") if (pid := pid_from(run_dir, name))
        }
        found["database"] = database_pids(run_dir)
        return found

    def sample(of: dict[str, list[int]]) -> dict[int, float]:
        times: dict[int, float] = {}
        for pids in of.values():
            for pid in pids:
                try:
                    times[pid] = cpu_seconds(pid)
                except OSError:
                    continue
        return times

    events = stream.events
    first_groups = groups()
    before, (busy0, all0) = sample(first_groups), machine_busy()
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    wall = time.perf_counter() - started
    last_groups = groups()
    after, (busy1, all1) = sample(last_groups), machine_busy()
    cores = os.cpu_count() or 1
    percent: dict[str, float] = {}
    for name in set(first_groups) | set(last_groups):
        pids = set(first_groups.get(name, [])) | set(last_groups.get(name, []))
        used = sum(max(0.0, after.get(pid, before.get(pid, 0.0)) - before.get(pid, 0.0)) for pid in pids)
        percent[name] = 100 * used / wall
    percent["dispatch+database"] = percent.get("dispatch", 0.0) + percent.get("database", 0.0)
    machine = 100 * cores * (busy1 - busy0) / (all1 - all0) if all1 > all0 else math.nan
    return IdleCpu(wall, percent, machine, stream.events - events)
