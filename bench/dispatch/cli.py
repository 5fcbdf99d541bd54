"""Run the rounds, take each figure's median over the repeats, print the tables and the ratios to the baseline."""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Final

from bench.dispatch.measure import demands, measure_matches, measure_owner, roster_bytes_per_volunteer
from bench.dispatch.population import Population, district, restore_roster
from services.dispatch.domain.states import EscalationLevel

TARGET: Final = 1.5  # issue 9: in-process matching flat within 1.5x from 100 to 100k volunteers


@dataclass
class Round:
    restore_s: float
    grid_per_s: float
    grid_p50_us: float
    grid_p99_us: float
    grid_scanned: float
    grid_climbed: float
    district_per_s: float
    district_p50_us: float
    district_p99_us: float
    district_scanned: float
    district_ranked: float
    owner_per_s: float
    owner_prepared_per_s: float
    submit_us: float
    accept_us: float
    start_us: float
    complete_us: float
    skipped: float


def one_round(population: Population, by_grid: dict[str, list[str]], requests: int, seed: int) -> Round:
    started = time.process_time()
    roster = restore_roster(population)
    restore = time.process_time() - started
    # The restore's garbage is collected now, not charged to the first matches (the owner pays it once).
    gc.collect()
    held = district(population, roster)
    grid = measure_matches(held, demands(requests, by_grid, seed), EscalationLevel.GRID)
    whole = measure_matches(held, demands(requests, by_grid, seed + 1), EscalationLevel.DISTRICT)
    owner = measure_owner(held, demands(requests, by_grid, seed + 2))
    return Round(
        restore_s=restore,
        grid_per_s=grid.per_second,
        grid_p50_us=grid.p50_us,
        grid_p99_us=grid.p99_us,
        grid_scanned=grid.scanned,
        grid_climbed=grid.climbed,
        district_per_s=whole.per_second,
        district_p50_us=whole.p50_us,
        district_p99_us=whole.p99_us,
        district_scanned=whole.scanned,
        district_ranked=whole.ranked,
        owner_per_s=owner.applied_per_second,
        owner_prepared_per_s=owner.with_prepare_per_second,
        submit_us=owner.mean_us("submit"),
        accept_us=owner.mean_us("accept"),
        start_us=owner.mean_us("start"),
        complete_us=owner.mean_us("complete"),
        skipped=owner.skipped,
    )


def median_round(rounds: Sequence[Round]) -> Round:
    """Each figure's own median: on a shared machine the repeats differ by what else ran at the time."""
    return Round(**{f.name: statistics.median(getattr(r, f.name) for r in rounds) for f in fields(Round)})


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


@dataclass(frozen=True)
class Column:
    title: str
    value: Callable[[Round], float]
    form: str


def table(columns: Sequence[Column], results: dict[int, Round]) -> None:
    widths = [max(len(c.title), 10) for c in columns]
    print("volunteers  " + "  ".join(c.title.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for size, result in results.items():
        cells = [format(c.value(result), c.form).rjust(w) for c, w in zip(columns, widths, strict=True)]
        print(f"{size:>10,}  " + "  ".join(cells))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dispatch", description=__doc__)
    parser.add_argument("--volunteers", default="100,1000,10000,100000", help="district sizes, comma-separated")
    parser.add_argument("--requests", type=int, default=1000, help="matches per level, and submissions, per round")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per size; each figure is the median")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="300 requests and one round: a smoke run")
    args = parser.parse_args(argv)
    sizes = sorted({int(s.replace("_", "")) for s in args.volunteers.split(",") if s.strip()})
    requests, repeats = (300, 1) if args.quick else (args.requests, args.repeats)

    print(f"bench.dispatch: sizes {sizes}, {requests} requests x {repeats} rounds; {load()}", flush=True)
    results: dict[int, Round] = {}
    memory: dict[int, float] = {}
    for size in sizes:
        population = Population(size, args.seed)
        by_grid = population.grids_of()
        memory[size] = roster_bytes_per_volunteer(population)
        rounds = []
        for r in range(repeats):
            gc.collect()
            rounds.append(one_round(population, by_grid, requests, args.seed * 1000 + r * 10))
            last = rounds[-1]
            print(
                f"  {size:>7,} round {r + 1}: restore {last.restore_s:.2f}s, grid {last.grid_per_s:,.0f}/s, "
                f"district {last.district_per_s:,.0f}/s, owner {last.owner_per_s:,.0f} events/s; {load()}",
                flush=True,
            )
        results[size] = median_round(rounds)

    print(f"\nMedians of {repeats} round(s); {load()}\n")
    print("(a) handlers.match on fresh requests (Roster.shortlist + rank_candidates + offers), per level it starts at")
    table(
        [
            Column("grid /s", lambda r: r.grid_per_s, ",.0f"),
            Column("p50 µs", lambda r: r.grid_p50_us, ",.0f"),
            Column("p99 µs", lambda r: r.grid_p99_us, ",.0f"),
            Column("climbed", lambda r: r.grid_climbed * 100, ".0f"),
            Column("scanned", lambda r: r.grid_scanned, ".0f"),
            Column("district /s", lambda r: r.district_per_s, ",.0f"),
            Column("p50 µs", lambda r: r.district_p50_us, ",.0f"),
            Column("p99 µs", lambda r: r.district_p99_us, ",.0f"),
            Column("scanned", lambda r: r.district_scanned, ".0f"),
            Column("ranked", lambda r: r.district_ranked, ".0f"),
        ],
        results,
    )
    print("\n(b) the owner's path: decode + apply (submit, accept, start, complete); +prep: the flush's memory part")
    table(
        [
            Column("events/s", lambda r: r.owner_per_s, ",.0f"),
            Column("+prep /s", lambda r: r.owner_prepared_per_s, ",.0f"),
            Column("submit µs", lambda r: r.submit_us, ",.0f"),
            Column("accept µs", lambda r: r.accept_us, ",.0f"),
            Column("start µs", lambda r: r.start_us, ",.0f"),
            Column("complete µs", lambda r: r.complete_us, ",.0f"),
            Column("skipped", lambda r: r.skipped, ".0f"),
            Column("restore s", lambda r: r.restore_s, ",.2f"),
        ],
        results,
    )
    print("\n(c) roster memory (tracemalloc, what the restored roster keeps)")
    for size, per in memory.items():
        print(f"{size:>10,}  {per:,.0f} bytes per volunteer, {per * size / 2**20:,.1f} MiB")

    base_size = sizes[0]
    base = results[base_size]
    print(f"\nSlowdown against {base_size:,} volunteers (this size's time per operation / the baseline's)")
    # A match's work is the volunteers it looks at (at most `candidates_wanted` eligible ones per walk); a
    # district smaller than that, or a grid with a handful, gives less work, so the cost per volunteer looked
    # at is printed too: it is what must not grow with the district.
    slowdowns: dict[str, Callable[[Round], float]] = {
        "grid match": lambda r: base.grid_per_s / r.grid_per_s,
        "district match": lambda r: base.district_per_s / r.district_per_s,
        "per looked at": lambda r: (
            (base.district_per_s * base.district_scanned) / (r.district_per_s * r.district_scanned)
        ),
        "owner event": lambda r: base.owner_per_s / r.owner_per_s,
        "owner +prep": lambda r: base.owner_prepared_per_s / r.owner_prepared_per_s,
    }
    names = list(slowdowns)
    print("volunteers  " + "  ".join(n.rjust(14) for n in names) + "  memory/vol".rjust(14))
    for size, result in results.items():
        cells = [f"{slowdowns[n](result):.2f}x".rjust(14) for n in names]
        print(f"{size:>10,}  " + "  ".join(cells) + f"{memory[size] / memory[base_size]:.2f}x".rjust(14))
    top = sizes[-1]
    print()
    for name in ("grid match", "district match"):
        ratio = slowdowns[name](results[top])
        verdict = "met" if ratio <= TARGET else "MISSED"
        print(f"target: {name} {base_size:,} → {top:,} volunteers ≤ {TARGET}x slower: {ratio:.2f}x, {verdict}")
    print(
        f"one owner applies {results[top].owner_per_s:,.0f} events/s at {top:,} volunteers "
        f"({results[top].owner_prepared_per_s:,.0f}/s with the flush's memory part), before any database or Kafka"
    )
    return 0
