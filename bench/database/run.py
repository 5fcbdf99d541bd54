"""Benchmark the local database: FerretDB v1.24.2 on PostgreSQL with and without GIN index mirrors, and on SQLite.

    deploy/native/stack.sh start      # the benchmark uses the stack's PostgreSQL cluster and FerretDB binary
    .venv/bin/python bench/database/run.py [--sizes 100,1000,10000,50000] [--ops 300]
        [--targets mirror,plain,sqlite] [--baseline sqlite]
    .venv/bin/python bench/database/run.py --check   # EXPLAIN only, through the stack's own FerretDB

For each target the benchmark starts a FerretDB of its own on a free loopback port; they work in turn,
never at the same time:
- `mirror`: a fresh PostgreSQL database with deploy/native/postgres/index-mirror.sql applied (what
  stack.sh runs);
- `mirror-auto`: the same with `plan_cache_mode = auto` (PostgreSQL's default) instead of the stack's
  `force_custom_plan`;
- `plain`: a fresh PostgreSQL database without the trigger (FerretDB's own btree indexes only);
- `sqlite`: FerretDB's SQLite backend in a temporary directory (what the stack ran before).
It grows one collection of request-like documents (indexes on `ref` and on `district_id, grid_id`) to
each size and times, one operation at a time on one connection: `find_one({_id})`, the indexed equality
`find({ref: v})`, `insert_one` and `update_one({_id}, {$set, $inc})`. The plan PostgreSQL chose for each
look-up is printed from FerretDB's `explain`. The last table compares every target with the baseline
measured in the same run. The PostgreSQL databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.database import Database

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "deploy" / "native" / "stack.sh"
MIRROR_SQL = ROOT / "deploy" / "native" / "postgres" / "index-mirror.sql"
Document = dict[str, Any]
TARGETS = ("mirror", "mirror-auto", "plain", "sqlite")
PAD = "十斤米，一桶油，两盒降压药。" * 12  # request text: documents of about 700 bytes, like dispatch's


@dataclass(frozen=True)
class StackEnv:
    ferretdb_bin: str
    pg_bin: str
    pg_host: str
    pg_port: str
    mongodb_uri: str

    @classmethod
    def read(cls) -> StackEnv:
        """What `stack.sh env` prints: the same addresses and paths the stack uses (GRID_* overrides apply)."""
        text = subprocess.run([str(STACK), "env"], check=True, capture_output=True, text=True).stdout
        values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        values = {key: shlex.split(value)[0] if value else "" for key, value in values.items()}
        return cls(
            values["GRID_FERRETDB_BIN"],
            values["GRID_PG_BIN"],
            values["GRID_PG_HOST"],
            values["GRID_PG_PORT"],
            values["MONGODB_URI"],
        )

    def psql(self, database: str, *args: str) -> str:
        command = [f"{self.pg_bin}/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.pg_host]
        command += ["-p", self.pg_port, "-U", "postgres", "-d", database, *args]
        return subprocess.run(command, check=True, capture_output=True, text=True).stdout

    def pg_url(self, database: str) -> str:
        query = urllib.parse.urlencode({"host": self.pg_host, "port": self.pg_port, "pool_max_conns": "8"})
        return f"postgres://ferretdb@/{database}?{query}"


# -- the targets --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_ping(client: MongoClient[Document], process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            client.admin.command("ping")
            return
        except Exception:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"FerretDB did not answer; see {log}") from None
            time.sleep(0.2)


def pg_database(target: str) -> str:
    return f"bench_{target.replace('-', '_')}"


@contextlib.contextmanager
def ferretdb(env: StackEnv, target: str, workdir: Path) -> Iterator[MongoClient[Document]]:
    """A FerretDB of this benchmark's own for `target`, with a fresh database behind it."""
    database = pg_database(target)
    if target == "sqlite":
        (workdir / "sqlite").mkdir()
        backend = ["--handler=sqlite", f"--sqlite-url=file:{workdir / 'sqlite'}/"]
    else:
        env.psql("postgres", "-c", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        env.psql("postgres", "-c", f"CREATE DATABASE {database} OWNER ferretdb")
        if target.startswith("mirror"):
            env.psql(database, "-f", str(MIRROR_SQL))
        if target == "mirror-auto":
            env.psql("postgres", "-c", f"ALTER DATABASE {database} SET plan_cache_mode = auto")
        backend = ["--handler=postgresql", f"--postgresql-url={env.pg_url(database)}"]
    port = free_port()
    log = workdir / f"ferretdb-{target}.log"
    state = workdir / f"state-{target}"
    state.mkdir()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                env.ferretdb_bin,
                *backend,
                f"--listen-addr=127.0.0.1:{port}",
                f"--state-dir={state}",
                *("--telemetry=disable", "--debug-addr=-", "--log-level=warn"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    client: MongoClient[Document] = MongoClient(f"mongodb://127.0.0.1:{port}", maxPoolSize=1)
    try:
        wait_for_ping(client, process, log)
        yield client
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if target != "sqlite":
            env.psql("postgres", "-c", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


# -- the measurements ---------------------------------------------------------------------------------


def request_document(number: int) -> Document:
    return {
        "_id": uuid.uuid4().hex,
        "ref": f"ref-{number:07d}",
        "district_id": "chengzhong",
        "grid_id": f"xgll-{number % 40:02d}",
        "status": "offered",
        "version": 1,
        "text": PAD,
    }


@dataclass
class Stage:
    target: str
    documents: int
    budget: float  # seconds per kind of operation: SQLite's look-ups by `ref` take seconds at 50k
    fill_per_second: float = 0.0
    find_id_ms: list[float] = field(default_factory=list)
    find_ref_ms: list[float] = field(default_factory=list)
    insert_per_second: float = 0.0
    update_per_second: float = 0.0
    plans: dict[str, str] = field(default_factory=dict)
    short: dict[str, int] = field(default_factory=dict)  # operations that ran out of budget: how many were done


def timed(operation: Callable[[], object], count: int, budget: float) -> tuple[list[float], float]:
    """Milliseconds of each call, and the seconds all took: `count` calls, fewer (at least 5) past `budget` seconds."""
    latencies: list[float] = []
    started = time.perf_counter()
    while len(latencies) < count and (len(latencies) < 5 or time.perf_counter() - started < budget):
        begin = time.perf_counter()
        operation()
        latencies.append((time.perf_counter() - begin) * 1000)
    return latencies, time.perf_counter() - started


def plan_of(db: Database[Document], collection: str, query: Document) -> str:
    """The access path of PostgreSQL's plan, from FerretDB's explain (SQLite's plan says nothing useful)."""
    planner = db.command("explain", {"find": collection, "filter": query}).get("queryPlanner", {})
    nodes: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "Node Type" in node and ("Scan" in node["Node Type"]):
                name = node.get("Index Name")
                nodes.append(f"{node['Node Type']}" + (f" ({name})" if name else ""))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(planner.get("Plan", planner))
    return ", ".join(nodes) or json.dumps(planner, ensure_ascii=False)[:80]


def measure(
    requests: Collection[Document],
    stage: Stage,
    ids: list[str],
    refs: list[str],
    new: list[Document],
    rng: random.Random,
) -> None:
    """Time look-ups, then inserts of `new` (those done are added to `ids` and `refs`), then updates."""
    ops, budget = len(new), stage.budget
    stage.find_id_ms, _ = timed(lambda: requests.find_one({"_id": rng.choice(ids)}), ops, budget)
    stage.find_ref_ms, _ = timed(lambda: list(requests.find({"ref": rng.choice(refs)})), ops, budget)
    pending = iter(new)
    inserted, seconds = timed(lambda: requests.insert_one(next(pending)), ops, budget)
    stage.insert_per_second = len(inserted) / seconds
    ids += [document["_id"] for document in new[: len(inserted)]]
    refs += [document["ref"] for document in new[: len(inserted)]]
    update = {"$set": {"status": "accepted"}, "$inc": {"version": 1}}
    updated, seconds = timed(lambda: requests.update_one({"_id": rng.choice(ids)}, update), ops, budget)
    stage.update_per_second = len(updated) / seconds
    done = {"find _id": stage.find_id_ms, "find ref": stage.find_ref_ms, "insert": inserted, "update": updated}
    stage.short = {name: len(latencies) for name, latencies in done.items() if len(latencies) < ops}


class Target:
    """One FerretDB's collection as it grows, with the ids and refs it holds."""

    def __init__(self, name: str, client: MongoClient[Document]) -> None:
        self.name = name
        self.db = client["bench"]
        self.requests: Collection[Document] = self.db["requests"]
        self.requests.create_index("ref")
        self.requests.create_index([("district_id", 1), ("grid_id", 1)])
        self.ids: list[str] = []
        self.refs: list[str] = []
        self.numbers = iter(range(10**9))
        self.rng = random.Random(7)

    def grow_and_measure(self, size: int, ops: int, budget: float) -> Stage:
        stage = Stage(self.name, size, budget)
        missing = size - len(self.ids)
        if missing > 0:
            batch = [request_document(next(self.numbers)) for _ in range(missing)]
            started = time.perf_counter()
            for offset in range(0, len(batch), 1000):
                self.requests.insert_many(batch[offset : offset + 1000], ordered=False)
            stage.fill_per_second = missing / (time.perf_counter() - started)
            self.ids += [document["_id"] for document in batch]
            self.refs += [document["ref"] for document in batch]
        stage.documents = len(self.ids)
        new = [request_document(next(self.numbers)) for _ in range(ops)]
        measure(self.requests, stage, self.ids, self.refs, new, self.rng)
        if self.name != "sqlite":
            stage.plans = {
                "_id": plan_of(self.db, "requests", {"_id": self.ids[0]}),
                "ref": plan_of(self.db, "requests", {"ref": self.refs[0]}),
            }
        return stage


# -- the report ---------------------------------------------------------------------------------------


def p(values: list[float], quantile: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]


HEADER = (
    f"{'target':<12}{'docs':>7}  {'find _id p50/p95 ms':>20}  {'find ref p50/p95 ms':>20}"
    f"  {'insert/s':>9}  {'update/s':>9}  {'fill docs/s':>11}"
)


def row(stage: Stage) -> str:
    find_id = f"{statistics.median(stage.find_id_ms):.2f} / {p(stage.find_id_ms, 0.95):.2f}"
    find_ref = f"{statistics.median(stage.find_ref_ms):.2f} / {p(stage.find_ref_ms, 0.95):.2f}"
    fill = f"{stage.fill_per_second:,.0f}" if stage.fill_per_second else "-"
    line = (
        f"{stage.target:<12}{stage.documents:>7}  {find_id:>20}  {find_ref:>20}"
        f"  {stage.insert_per_second:>9,.0f}  {stage.update_per_second:>9,.0f}  {fill:>11}"
    )
    if stage.short:
        done = ", ".join(f"{name} {count}" for name, count in stage.short.items())
        line += f"\n{'':<21}out of time budget, operations done: {done}"
    for name, plan in stage.plans.items():
        line += f"\n{'':<21}plan of find {name}: {plan}"
    return line


def ratios(results: dict[str, list[Stage]], baseline: str) -> None:
    print(f"\nAgainst {baseline} (same run): look-ups as speed-up of the median (x faster), writes as rate ratio")
    print(f"{'target':<12}{'docs':>7}  {'find _id':>9}  {'find ref':>9}  {'insert':>7}  {'update':>7}")
    for target, stages in results.items():
        if target == baseline:
            continue
        for stage, base in zip(stages, results[baseline], strict=True):
            print(
                f"{target:<12}{stage.documents:>7}"
                f"  {statistics.median(base.find_id_ms) / statistics.median(stage.find_id_ms):>8.1f}x"
                f"  {statistics.median(base.find_ref_ms) / statistics.median(stage.find_ref_ms):>8.1f}x"
                f"  {stage.insert_per_second / base.insert_per_second:>6.2f}x"
                f"  {stage.update_per_second / base.update_per_second:>6.2f}x"
            )


def check(env: StackEnv) -> int:
    """EXPLAIN through the stack's own FerretDB: equality on `_id`, on an indexed field and on a compound index."""
    client: MongoClient[Document] = MongoClient(env.mongodb_uri)
    name = f"bench_check_{uuid.uuid4().hex[:8]}"
    try:
        db = client[name]
        requests = db["requests"]
        requests.create_index("ref")
        requests.create_index([("district_id", 1), ("grid_id", 1)])
        documents = [request_document(number) for number in range(2000)]
        requests.insert_many(documents)
        queries: dict[str, Document] = {
            "_id": {"_id": documents[5]["_id"]},
            "ref": {"ref": documents[5]["ref"]},
            "district_id+grid_id": {"district_id": "chengzhong", "grid_id": "xgll-05"},
            "grid_id (2nd field of the compound index)": {"grid_id": "xgll-05"},
        }
        failed = 0
        for label, query in queries.items():
            plan = plan_of(db, "requests", query)
            uses_index = "Index Scan" in plan
            failed += not uses_index
            print(f"{'ok ' if uses_index else 'NO '} find {label}: {plan}")
        return 1 if failed else 0
    finally:
        client.drop_database(name)
        client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,10000,50000", help="collection sizes, comma-separated")
    parser.add_argument("--ops", type=int, default=300, help="operations of each kind per size")
    parser.add_argument("--budget", type=float, default=20, help="seconds at most per kind and size (5 ops at least)")
    parser.add_argument("--targets", default="mirror,plain,sqlite", help=f"comma-separated, of {', '.join(TARGETS)}")
    parser.add_argument("--baseline", default="sqlite", help="the target the others are compared with")
    parser.add_argument("--check", action="store_true", help="only EXPLAIN look-ups through the stack's FerretDB")
    args = parser.parse_args()
    env = StackEnv.read()
    if args.check:
        return check(env)
    targets = [target for target in args.targets.split(",") if target]
    unknown = [target for target in [*targets, args.baseline] if target not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {unknown}; choose from {TARGETS}")
    if args.baseline not in targets:
        targets.insert(0, args.baseline)
    sizes = sorted(int(size) for size in args.sizes.split(","))
    print(f"FerretDB {env.ferretdb_bin}, PostgreSQL cluster at {env.pg_host} port {env.pg_port}")
    print(f"{args.ops} operations of each kind per size (fewer past {args.budget:g} s), one at a time, one connection")
    print(f"\n{HEADER}")
    results: dict[str, list[Stage]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-database-") as workdir, contextlib.ExitStack() as running:
        # All FerretDBs run from the start, but only one works at a time: size by size, target by target,
        # so that a change in the machine's load (it is shared) hits every target alike.
        measured = []
        for target in targets:
            target_dir = Path(workdir) / target
            target_dir.mkdir(parents=True)
            measured.append(Target(target, running.enter_context(ferretdb(env, target, target_dir))))
            results[target] = []
        for size in sizes:
            for each in measured:
                stage = each.grow_and_measure(size, args.ops, args.budget)
                results[each.name].append(stage)
                print(row(stage), flush=True)
    ratios(results, args.baseline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
