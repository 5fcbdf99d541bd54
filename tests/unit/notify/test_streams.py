"""Feeds, recent history and stream resume in memory, without I/O (the log's reader and end are stand-ins)."""

from __future__ import annotations

import asyncio
import json

from services.notify.domain.audiences import DistrictScope, RequestScope, Scope, VolunteerScope
from services.notify.domain.resume import position_of
from services.notify.feed import REPLAY_CONCURRENCY, FeedHub, LiveEvent, RecentHistory, Subscription, render
from services.notify.streams import ItemKind, StreamItem, StreamSource, stream_items
from shared.contracts import StatusChangedV1, new_event

DISTRICT = "chengzhong"


def event(offset: int, request_id: str = "r1", *, partition: int = 0, volunteers: tuple[str, ...] = ()) -> LiveEvent:
    envelope = new_event(
        event_type="request.started",
        source="test",
        district_id=DISTRICT,
        request_id=request_id,
        event_id=f"{request_id}:{offset}",
        data=StatusChangedV1(status="in_progress", sequence=offset + 1, volunteer_ids=list(volunteers)),
    )
    return render(partition, offset, envelope)


class LogStandIn:
    """The Kafka side of a stream: records older than memory, and where the log ends."""

    def __init__(self, older: list[LiveEvent], end: int) -> None:
        self.older = older
        self.end = end
        self.reads: list[tuple[int, int]] = []
        self.reading = 0
        self.most = 0

    async def read(self, district_id: str, scope: Scope, partition: int, start: int, end: int) -> list[LiveEvent]:
        self.reads.append((start, end))
        self.reading += 1
        self.most = max(self.most, self.reading)
        await asyncio.sleep(0.01)
        self.reading -= 1
        return [e for e in self.older if start <= e.offset < end and e.visible_to(scope)]

    async def log_end(self, partition: int) -> int:
        return self.end


def hub_at(memory_start: int, *, log_start: int = 0, recent: int = 100) -> FeedHub:
    hub = FeedHub(recent_per_district=recent)
    hub.begin({0: memory_start}, {0: log_start})
    hub.ready.set()
    return hub


async def take(stream: object, count: int) -> list[StreamItem]:
    return [await anext(stream) for _ in range(count)]  # type: ignore[call-overload]


RESIDENT = RequestScope("r1")


def stream(hub: FeedHub, log: LogStandIn, cursor: int | None, scope: Scope = RESIDENT, heartbeat: float = 5) -> object:
    source = StreamSource(hub, log, log)  # type: ignore[arg-type]
    return stream_items(
        source=source, district_id=DISTRICT, scope=scope, cursor=cursor, heartbeat_seconds=heartbeat, queue_size=64
    )


def test_a_full_queue_marks_the_slow_client_instead_of_growing() -> None:
    subscription = Subscription(RequestScope("r1"), queue_size=2)
    for offset in (1, 2, 3, 4):
        subscription.offer(event(offset))

    assert subscription.overflowed
    assert subscription.queue.qsize() == 2


def test_sse_and_websocket_carry_the_same_position_type_and_envelope() -> None:
    live = event(6, partition=3)
    sse_lines = live.sse.split("\n")
    ws = json.loads(live.ws)

    assert sse_lines[0] == f"id: {position_of(3, 6)}" and sse_lines[1] == "event: request.started"
    assert json.loads(sse_lines[2].removeprefix("data: ")) == ws["data"]
    assert ws["id"] == str(position_of(3, 6)) and ws["data"]["id"] == "r1:6"


def test_overflow_and_reset_carry_the_resume_pointer() -> None:
    overflow = StreamItem(ItemKind.OVERFLOW, position=41)
    reset = StreamItem(ItemKind.RESET, position=9)

    assert overflow.sse().startswith("id: 41\nevent: overflow\n")
    assert json.loads(overflow.ws())["data"]["resume_after"] == 41
    assert "reload" in json.loads(reset.ws())["data"]["reason"]
    assert StreamItem(ItemKind.HEARTBEAT).sse() == ": heartbeat\n\n"


def test_recent_history_is_bounded_and_read_by_request_and_volunteer() -> None:
    history = RecentHistory(limit=3, start=10)
    for offset, request_id, volunteers in ((10, "r1", ("v1",)), (11, "r2", ()), (12, "r1", ()), (13, "r2", ("v1",))):
        history.append(event(offset, request_id, volunteers=volunteers))

    assert len(history) == 3 and history.start == 11  # offset 10 evicted: memory is complete from 11 on
    assert [e.offset for e in history.between(RequestScope("r1"), 11, 20)] == [12]
    assert [e.offset for e in history.between(VolunteerScope("v1"), 0, 20)] == [13]
    assert [e.offset for e in history.between(DistrictScope(), 12, 13)] == [12]
    assert history.between(RequestScope("nobody"), 0, 20) == []


async def test_resume_inside_memory_replays_exactly_the_missed_events_then_live() -> None:
    hub = hub_at(0)
    for offset in range(5):
        hub.deliver(event(offset, "r1" if offset % 2 == 0 else "r2"))
    log = LogStandIn([], end=5)

    items = stream(hub, log, cursor=position_of(0, 0))
    missed = await take(items, 2)
    hub.deliver(event(5, "r2"))
    hub.deliver(event(6, "r1"))
    live = await take(items, 1)

    assert [i.position for i in missed] == [position_of(0, 2), position_of(0, 4)]
    assert live[0].position == position_of(0, 6)
    assert log.reads == []
    await items.aclose()  # type: ignore[attr-defined]
    assert hub.connections == 0


async def test_resume_older_than_memory_reads_the_gap_from_the_log() -> None:
    older = [event(offset) for offset in range(10, 20)]
    hub = hub_at(20, log_start=10)
    hub.deliver(event(20))
    log = LogStandIn(older, end=21)

    items = stream(hub, log, cursor=position_of(0, 14))
    replayed = await take(items, 6)

    assert log.reads == [(15, 20)]
    assert [i.position for i in replayed] == [position_of(0, offset) for offset in range(15, 21)]
    await items.aclose()  # type: ignore[attr-defined]


async def test_a_cursor_beyond_the_horizon_gets_reset_then_live_events() -> None:
    hub = hub_at(20, log_start=10)
    hub.deliver(event(20))
    log = LogStandIn([], end=21)

    items = stream(hub, log, cursor=position_of(0, 5))
    (reset,) = await take(items, 1)
    hub.deliver(event(21))
    (live,) = await take(items, 1)

    assert reset.kind is ItemKind.RESET and reset.position == position_of(0, 20)
    assert live.position == position_of(0, 21) > reset.position
    await items.aclose()  # type: ignore[attr-defined]


async def test_a_cursor_from_a_replica_further_ahead_skips_what_it_saw() -> None:
    hub = hub_at(0)
    hub.deliver(event(0))
    log = LogStandIn([], end=3)  # another replica already read offsets 1 and 2

    items = stream(hub, log, cursor=position_of(0, 2))
    for offset in (1, 2, 3):
        hub.deliver(event(offset))
    (first,) = await take(items, 1)

    assert first.position == position_of(0, 3)
    await items.aclose()  # type: ignore[attr-defined]


async def test_a_reconnect_storm_reads_the_log_a_few_streams_at_a_time() -> None:
    hub = hub_at(50, log_start=0)
    log = LogStandIn([], end=50)
    streams = [
        stream(hub, log, position_of(0, 10), RequestScope(f"r{n}"), heartbeat=0.05)
        for n in range(REPLAY_CONCURRENCY * 3)
    ]

    first = await asyncio.gather(*(anext(s) for s in streams))  # type: ignore[call-overload]

    assert {item.kind for item in first} == {ItemKind.HEARTBEAT}
    assert log.most == REPLAY_CONCURRENCY
    assert hub.replaying == 0 and hub.connections == len(streams)
    await asyncio.gather(*(s.aclose() for s in streams))  # type: ignore[attr-defined]
    assert hub.connections == 0


def test_a_record_is_streamed_as_read_and_one_spanning_lines_is_dumped_again() -> None:
    envelope = new_event(
        event_type="request.assigned",
        source="test",
        district_id=DISTRICT,
        request_id="r9",
        event_id="r9:1",
        data=StatusChangedV1(status="assigned", sequence=1, volunteer_id="v1", message="买米 / rice"),
    )
    compact = envelope.to_bytes()
    spread = json.dumps(envelope.model_dump(mode="json"), ensure_ascii=False, indent=1).encode()

    as_read = render(0, 4, envelope, compact)
    dumped = render(0, 4, envelope, spread)

    assert as_read.sse == f"id: {position_of(0, 4)}\nevent: request.assigned\ndata: {compact.decode()}\n\n"
    assert dumped.sse.count("\n") == 4 and json.loads(dumped.sse.split("data: ", 1)[1]) == json.loads(compact)
    assert json.loads(as_read.ws)["data"] == json.loads(dumped.ws)["data"] == envelope.model_dump(mode="json")
    assert as_read.volunteers == dumped.volunteers == ("v1",)
