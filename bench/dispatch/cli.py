"""Command line: populate a fresh database per size, measure, print the table, drop the databases."""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Final

from pymongo import AsyncMongoClient

from bench.dispatch import measure
from bench.dispatch.measure import Budget, KafkaResult, Phase, Timings
from bench.dispatch.population import DISTRICT, Shape, populate
from services.dispatch.settings import DispatchEngineSettings
from shared.mongo import Document, connect

DEFAULT_SIZES: Final = "1000,10000,100000"
TARGET_RATE: Final = 2000.0
TARGET_SIZE: Final = 100_000


def say(line: str) -> None:
    print(line, flush=True)


@dataclass
class SizeResult:
    size: int
    shape: Shape
    populate_seconds: dict[str, float]
    match: Phase
    outbox: Phase
    ceiling: Phase
    ceiling_volunteers: Phase
    breakdown: dict[str, tuple[int, float]] = field(default_factory=dict)
    plans: dict[str, str] = field(default_factory=dict)
    kafka: KafkaResult | None = None


def parse_sizes(text: str) -> list[int]:
    sizes = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes must be positive integers")
    return sizes


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.dispatch", description=__doc__)
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes(DEFAULT_SIZES), help="volunteers per run")
    parser.add_argument("--requests", type=int, default=1000, help="matches to time per size (at most)")
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="time budget per measured phase and size (at least 3 samples)"
    )
    parser.add_argument("--min-samples", type=int, default=3, help="samples per phase even past --seconds")
    parser.add_argument("--warmup", type=int, choices=(0, 1), default=1, help="one untimed match first")
    parser.add_argument("--per-grid", type=int, default=100, help="volunteers per grid (grids grow with the size)")
    parser.add_argument("--ceiling-updates", type=int, default=2000, help="update_one calls for the ceiling")
    parser.add_argument(
        "--kafka-requests",
        type=int,
        default=200,
        help="requests through Kafka and the real consumer loop at the smallest size (0 to skip)",
    )
    parser.add_argument("--seed", type=int, default=20240601)
    return parser.parse_args(argv)


async def run_size(
    client: AsyncMongoClient[Document],
    settings: DispatchEngineSettings,
    args: argparse.Namespace,
    size: int,
    *,
    kafka: bool,
) -> SizeResult:
    shape = Shape(volunteers=size, per_grid=args.per_grid)
    name = f"grid_bench_{size}"
    say(
        f"\n== {size:,} volunteers in database {name}: {shape.grids:,} grids, {shape.communities:,} communities, "
        f"{shape.streets:,} street offices"
    )
    await client.drop_database(name)
    db = client[name]
    populated = await populate(db, shape, seed=args.seed, progress=say)

    timings = Timings()
    ctx = measure.dispatch_context(db, settings, timings)
    kafka_count = args.kafka_requests if kafka else 0
    events = measure.submissions(shape, 1 + 2 * args.requests + kafka_count, seed=args.seed + size)
    budget = Budget(args.requests, args.seconds, max(1, args.min_samples))

    if args.warmup:
        warm, _ = await measure.matches(ctx, events[:1], Budget(1, 0.0, 1), say, "warm-up")
        say(f"  warm-up match: {warm.latencies[0] * 1000:,.1f} ms")
    timings.reset()
    rest = events[1:]
    match, documents = await measure.matches(ctx, rest, budget, say, "match")
    breakdown = {key: (timings.calls[key], timings.seconds[key]) for key in sorted(timings.seconds)}
    offered = sum(1 for d in documents if d.get("offered_volunteer_ids"))
    say(
        f"  matches: {match.count} in {match.wall:.1f}s = {match.rate:,.1f}/s "
        f"(p50 {match.percentile(50) * 1000:,.1f} ms, p99 {match.percentile(99) * 1000:,.1f} ms); "
        f"{offered} got an offer at grid level"
    )
    rest = rest[match.count :]
    timings.reset()
    outbox = await measure.matches_with_outbox(ctx, rest, budget, say)
    say(f"  match+outbox: {outbox.count} in {outbox.wall:.1f}s = {outbox.rate:,.1f}/s")
    for key in sorted(timings.seconds):
        if key.startswith("outbox:"):
            per_event = timings.seconds[key] / max(1, outbox.count)
            say(f"    {key}: {per_event * 1000:,.1f} ms per event ({timings.calls[key]} calls)")
    rest = rest[outbox.count :]

    await db.bench_ceiling.insert_one({"_id": "counter", "district_id": DISTRICT, "bench_counter": 0})
    ceiling_budget = Budget(args.ceiling_updates, min(args.seconds, 20.0), max(1, args.min_samples))
    ceiling = await measure.update_ceiling(db, "bench_ceiling", "counter", ceiling_budget)
    say(f"  ceiling (update_one $inc by _id, 1-document collection): {ceiling.rate:,.0f}/s")
    middle = shape.volunteer_id(size // 2)
    ceiling_volunteers = await measure.update_ceiling(db, "volunteers", middle, ceiling_budget)
    say(f"  update_one $inc by _id on volunteers ({size:,} documents): {ceiling_volunteers.rate:,.1f}/s")

    sample = documents[0] if documents else {}
    candidate_query: Document = {
        "district_id": DISTRICT,
        "active": True,
        "grid_id": sample.get("grid_id", shape.grid_id(0)),
        "skills": {"$all": ["errand"]},
    }
    plans = {
        "volunteers.candidates": await measure.plan(
            db,
            "volunteers",
            candidate_query,
            sort={"open_assignments": 1, "last_assigned_at": 1, "_id": 1},
            limit=settings.candidates_per_query,
        ),
        "requests by _id": await measure.plan(db, "requests", {"_id": sample.get("_id", "x")}, limit=1),
        "grid by _id+district": await measure.plan(
            db, "grids", {"_id": shape.grid_id(0), "district_id": DISTRICT}, limit=1
        ),
    }
    for what, line in plans.items():
        say(f"  plan {what}: {line}")

    kafka_result: KafkaResult | None = None
    if kafka_count:
        say(f"  kafka: {kafka_count} submissions through {settings.kafka_bootstrap} and the real consumer loop")
        try:
            kafka_result = await measure.through_kafka(
                ctx, rest[:kafka_count], settings.kafka_bootstrap, max(args.seconds, 60.0) * 5, say
            )
            say(f"  kafka: {kafka_result.handled} handled, {kafka_result.rate:,.1f}/s end to end")
        except Exception as exc:  # Kafka is optional for the figure; say why it is missing
            say(f"  kafka: skipped ({type(exc).__name__}: {exc})")

    await client.drop_database(name)
    return SizeResult(
        size=size,
        shape=shape,
        populate_seconds=populated,
        match=match,
        outbox=outbox,
        ceiling=ceiling,
        ceiling_volunteers=ceiling_volunteers,
        breakdown=breakdown,
        plans=plans,
        kafka=kafka_result,
    )


def rate(per_second: float) -> str:
    return (
        f"{per_second:,.0f}" if per_second >= 100 else f"{per_second:,.2f}" if per_second >= 1 else f"{per_second:.3f}"
    )


def ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:,.1f}"


def report(results: list[SizeResult]) -> None:
    base = results[0]
    base_label = f"{base.size // 1000}k" if base.size % 1000 == 0 else str(base.size)
    say("\n== Dispatch matches/s (one consumer, handle_submitted in-process, sequential)")
    header = (
        f"{'volunteers':>10} {'n':>5} {'matches/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'+outbox/s':>10} "
        f"{'ceiling/s':>10} {'match/ceil':>10} {f'{base_label}/this':>9} {'upd/s on volunteers':>20}"
    )
    say(header)
    say("-" * len(header))
    for r in results:
        ratio = r.match.rate / r.ceiling.rate if r.ceiling.rate else float("nan")
        slowdown = base.match.rate / r.match.rate if r.match.rate else float("inf")
        say(
            f"{r.size:>10,} {r.match.count:>5} {rate(r.match.rate):>10} {ms(r.match.percentile(50)):>9} "
            f"{ms(r.match.percentile(99)):>9} {rate(r.outbox.rate):>10} {rate(r.ceiling.rate):>10} {ratio:>10.3%} "
            f"{slowdown:>8,.1f}x {rate(r.ceiling_volunteers.rate):>20}"
        )
    say(
        "ceiling = update_one({_id}, {$inc}) on a one-document collection, same client, sequential; "
        "'upd/s on volunteers' = the same on one volunteer of the size's collection."
    )

    say("\n== Where a match spends its time (mean ms per match, from the timed repositories)")
    keys = sorted({k for r in results for k in r.breakdown})
    say(f"{'volunteers':>10} " + " ".join(f"{k:>26}" for k in [*keys, "rest (domain, python)"]))
    for r in results:
        per_match = [r.breakdown.get(k, (0, 0.0))[1] / max(1, r.match.count) for k in keys]
        rest = r.match.mean - sum(per_match)
        say(f"{r.size:>10,} " + " ".join(f"{ms(v):>26}" for v in [*per_match, rest]))

    say("\n== Setup")
    for r in results:
        p = r.populate_seconds
        say(
            f"{r.size:>10,} volunteers: {r.shape.grids:,} grids × {r.shape.per_grid}; inserted in "
            f"{p['volunteers']:.1f}s, indexes {p['indexes']:.1f}s"
        )
    for r in results:
        if r.kafka is not None:
            say(
                f"\n== Through Kafka at {r.size:,} volunteers (real consumer loop, outbox published): "
                f"{r.kafka.handled} handled, {r.kafka.rate:,.1f}/s "
                f"(publishing them took {r.kafka.publish_seconds:.1f}s)"
            )

    say("\n== Targets")
    largest = results[-1]
    if len(results) > 1:
        slowdown = base.match.rate / largest.match.rate if largest.match.rate else float("inf")
        verdict = "met" if slowdown <= 2.0 else "NOT met"
        say(f"within 2x from {base.size:,} to {largest.size:,}: {verdict} ({slowdown:,.1f}x slower)")
    at_target = next((r for r in results if r.size == TARGET_SIZE), None)
    if at_target is not None:
        rate_ok = at_target.match.rate >= TARGET_RATE
        share = at_target.match.rate / at_target.ceiling.rate if at_target.ceiling.rate else 0.0
        verdict = "met" if rate_ok or share >= 0.5 else "NOT met"
        say(
            f">= {TARGET_RATE:,.0f} matches/s at {TARGET_SIZE:,} or >= 50% of the ceiling: {verdict} "
            f"({at_target.match.rate:,.1f}/s, {share:.1%} of {at_target.ceiling.rate:,.0f}/s)"
        )


async def run(args: argparse.Namespace) -> int:
    settings = DispatchEngineSettings()
    client = connect(settings)
    say(
        f"dispatch benchmark against {settings.mongodb_uri}; sizes {', '.join(f'{s:,}' for s in args.sizes)}; "
        f"up to {args.requests} matches or {args.seconds:.0f}s per phase"
    )
    build = await client.admin.command("buildInfo")
    say(f"server: MongoDB wire {build.get('version')}, FerretDB {build.get('ferretdbVersion', '-')}")
    results: list[SizeResult] = []
    started = time.perf_counter()
    try:
        for index, size in enumerate(args.sizes):
            results.append(await run_size(client, settings, args, size, kafka=index == 0 and args.kafka_requests > 0))
    except KeyboardInterrupt:
        say("interrupted")
    finally:
        for size in args.sizes:
            await client.drop_database(f"grid_bench_{size}")
        await client.close()
    if results:
        report(results)
    say(f"\ntotal {time.perf_counter() - started:,.0f}s")
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(arguments(argv if argv is not None else sys.argv[1:])))
