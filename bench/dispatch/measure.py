"""What one round measures on one district: matches, the owner's whole in-memory path, and memory.

Only the work the owner does is timed: building a request, an envelope or its bytes is the caller's (or
intake's) work and happens outside the clock. The clock is this process's CPU time (`process_time`): on
a shared 2-core machine, waiting for a core while other engineers' tests run is not the owner's cost
(the caches and memory bandwidth they share still count, which is the remaining noise).
"""

from __future__ import annotations

import gc
import random
import statistics
import time
import tracemalloc
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from bench.dispatch.population import (
    DISTRICT,
    GRIDS,
    MENU,
    MENU_WEIGHTS,
    NOW,
    Population,
    grid_id,
    place_of,
    restore_roster,
)
from services.dispatch import handlers
from services.dispatch.district import District
from services.dispatch.domain.states import EscalationLevel, RequestState, RequestStatus
from services.dispatch.request import SYSTEM, MenuTerms, Request
from shared.contracts import REQUEST_SUBMITTED, EventEnvelope, RequestSubmittedV1, decode_data, new_event
from shared.contracts import commands as c
from shared.contracts.commands import Actor, Command
from shared.phone_numbers import mask

# The owner applies up to this many records per poll (OwnerSettings.max_records), then prepares the write.
BATCH: Final = 500
# Simulated time between two events: offer and SLA timers come due during a run, as they would.
TICK: Final = timedelta(milliseconds=50)
# Events between a submission and its accept, the accept and the start, the start and the completion:
# about 3 x LAG requests are live at once, well within what even 100 volunteers can hold.
LAG: Final = 20


@dataclass(frozen=True)
class Demand:
    """One resident's request: where, what, in which language, and their linked heart if any."""

    grid: int
    item: int
    language: str | None
    linked_heart: str | None


def demands(count: int, by_grid: dict[str, list[str]], seed: int) -> list[Demand]:
    """80 % of residents give a language (mostly zh); 10 % have a linked heart among their grid's volunteers."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        g = rng.randrange(GRIDS)
        neighbours = by_grid.get(grid_id(g), [])
        language = rng.choices(("zh", "hui", "en"), (0.7, 0.2, 0.1))[0] if rng.random() < 0.8 else None
        linked = rng.choice(neighbours) if neighbours and rng.random() < 0.1 else None
        out.append(Demand(g, rng.choices(range(len(MENU)), MENU_WEIGHTS)[0], language, linked))
    return out


# -- (a) matching -----------------------------------------------------------------------------------


@dataclass
class MatchFigures:
    per_second: float
    p50_us: float
    p99_us: float
    scanned: float  # volunteers looked at per match, over every level it climbed
    ranked: float  # eligible candidates at the level it started at (the result `match` returns)
    climbed: float  # share that went above the level it started at


def fresh_request(i: int, demand: Demand, level: EscalationLevel) -> Request:
    """A request as `handlers.submit` creates it, not yet matched, placed at `level` of the ladder."""
    item = MENU[demand.item]
    request_id = f"m{i:08d}"
    return Request(
        id=request_id,
        district_id=DISTRICT,
        place=place_of(demand.grid),
        menu=MenuTerms.of(item),
        priority=item["urgency"],
        resident={"name": "王仁柱", "phone": "+8613800001234", "language": demand.language, "id": None},
        linked_heart_id=demand.linked_heart,
        text="",
        attributes={},
        submitted_by=None,
        submitted_at=NOW,
        created_at=NOW,
        updated_at=NOW,
        state=RequestState(request_id, level=level),
    )


def measure_matches(district: District, wanted: list[Demand], level: EscalationLevel) -> MatchFigures:
    """`handlers.match` on fresh requests; a match changes no load, so every one sees the same roster."""
    ctx = district.deciding(NOW)
    times: list[float] = []
    scanned = ranked = climbed = 0
    for i, demand in enumerate(wanted):
        request = fresh_request(i, demand, level)
        started = time.process_time()
        result = handlers.match(request, ctx, by=SYSTEM)
        times.append(time.process_time() - started)
        scanned += sum(d.get("scanned", 0) for d in request.decisions if d["kind"] == "match")
        ranked += len(result.ranked) if result else 0
        climbed += request.state.level > level
    n = len(wanted)
    return MatchFigures(
        n / sum(times),
        statistics.median(times) * 1e6,
        statistics.quantiles(times, n=100)[98] * 1e6,
        scanned / n,
        ranked / n,
        climbed / n,
    )


# -- (b) the owner's path ------------------------------------------------------------------------------


@dataclass
class OwnerFigures:
    events: int
    apply_seconds: float  # decode + apply, per message
    prepare_seconds: float  # per batch: collect the changes, build the documents and the outgoing events
    seconds_by_kind: dict[str, float] = field(default_factory=dict)
    count_by_kind: dict[str, int] = field(default_factory=dict)
    skipped: int = 0  # commands not sent: the request had no offer to accept or no holder to start or complete

    @property
    def applied_per_second(self) -> float:
        return self.events / self.apply_seconds

    @property
    def with_prepare_per_second(self) -> float:
        return self.events / (self.apply_seconds + self.prepare_seconds)

    def mean_us(self, kind: str) -> float:
        count = self.count_by_kind.get(kind, 0)
        return self.seconds_by_kind.get(kind, 0.0) / count * 1e6 if count else float("nan")


def submission(i: int, demand: Demand, at: datetime) -> bytes:
    """`request.submitted` as intake builds it (grid's community and street office filled in), as bytes."""
    item, place = MENU[demand.item], place_of(demand.grid)
    phone = f"+86138{i:08d}"
    request_id = f"r{i:015d}"
    return new_event(
        event_type=REQUEST_SUBMITTED,
        source="intake",
        district_id=DISTRICT,
        request_id=request_id,
        event_id=f"{request_id}:submitted",
        time=at,
        data=RequestSubmittedV1(
            menu_item_code=item["code"],
            grid_id=place.grid_id,
            resident_name="王仁柱",
            resident_phone=phone,
            community_id=place.community_id,
            street_office_id=place.street_office_id,
            resident_language=demand.language,
            linked_heart_volunteer_id=demand.linked_heart,
            priority=item["urgency"],
            submitted_by=Actor(role="resident", subject=mask(phone)),
        ),
    ).to_bytes()


def command(request: Request, payload: Command, at: datetime) -> bytes:
    """A command envelope as intake's `publish_command` builds it, as bytes."""
    return new_event(
        event_type=payload.command_type,
        source="intake",
        district_id=DISTRICT,
        request_id=request.id,
        event_id=f"{request.id}:{payload.command_type}:{uuid.uuid4().hex}",
        time=at,
        data=payload,
    ).to_bytes()


def next_command(request: Request, kind: str) -> Command | None:
    """What the volunteer would send next: accept the offer made to them, start, complete."""
    if kind == "accept":
        if request.status is not RequestStatus.OFFERED:
            return None
        volunteer_id = min(request.state.offered_to)
        return c.AcceptOfferV1(actor=Actor(role="volunteer", subject=volunteer_id), volunteer_id=volunteer_id)
    holder = request.holder
    if holder is None:
        return None
    actor = Actor(role="volunteer", subject=holder)
    if kind == "start":
        return c.StartWorkV1(actor=actor, volunteer_id=holder) if request.status is RequestStatus.ASSIGNED else None
    return c.CompleteWorkV1(actor=actor, volunteer_id=holder, note="done")


def measure_owner(district: District, wanted: list[Demand]) -> OwnerFigures:
    """Submissions, then each request's accept, start and completion LAG events apart, as the owner applies them.

    Each message is decoded from bytes and applied (`District.submit` / `District.command`, as
    `DispatchOwner._apply`); every BATCH messages the owner's in-memory part of a flush runs: due timers,
    the changed requests turned into documents, their outboxes into envelopes, closed requests forgotten.
    """
    figures = OwnerFigures(0, 0.0, 0.0)
    submitted: list[Request] = []
    now = NOW
    since_flush = 0

    def timed(kind: str, raw: bytes, apply: Callable[[EventEnvelope, object], None]) -> None:
        nonlocal since_flush
        started = time.process_time()
        envelope = EventEnvelope.from_bytes(raw)
        apply(envelope, decode_data(envelope))
        spent = time.process_time() - started
        figures.apply_seconds += spent
        figures.seconds_by_kind[kind] = figures.seconds_by_kind.get(kind, 0.0) + spent
        figures.count_by_kind[kind] = figures.count_by_kind.get(kind, 0) + 1
        figures.events += 1
        since_flush += 1
        if since_flush >= BATCH:
            figures.prepare_seconds += prepare_write(district, now)
            since_flush = 0

    def submit(envelope: EventEnvelope, payload: object) -> None:
        assert isinstance(payload, RequestSubmittedV1)
        request = district.submit(envelope, payload, now)
        assert request is not None
        submitted.append(request)

    def apply_command(envelope: EventEnvelope, payload: object) -> None:
        assert isinstance(payload, Command)
        district.command(envelope, payload, now)

    stages = ("accept", "start", "complete")
    for step in range(len(wanted) + LAG * len(stages)):
        if step < len(wanted):
            timed("submit", submission(step, wanted[step], now), submit)
            now += TICK
        for lag, kind in enumerate(stages, start=1):
            index = step - lag * LAG
            if not 0 <= index < len(submitted):
                continue
            request = submitted[index]
            payload = next_command(request, kind)
            if payload is None:
                figures.skipped += 1
                continue
            timed(kind, command(request, payload, now), apply_command)
            now += TICK
    figures.prepare_seconds += prepare_write(district, now)
    return figures


def prepare_write(district: District, now: datetime) -> float:
    """The owner's flush up to the database call: timers, documents, outgoing envelopes; then as if written."""
    started = time.process_time()
    district.fire_due_timers(now)
    changes = district.take_changes()
    for request in changes.requests.values():
        request.to_document(epoch=1)
        for event in request.outbox:
            EventEnvelope.model_validate(event)
        request.changed = False
        request.outbox = []
    district.forget_closed()
    return time.process_time() - started


# -- (c) memory -------------------------------------------------------------------------------------


def roster_bytes_per_volunteer(population: Population) -> float:
    """What the restored roster keeps allocated (tracemalloc), per volunteer; its source documents are freed."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        roster = restore_roster(population)
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(roster) == population.volunteers
    return kept / population.volunteers
