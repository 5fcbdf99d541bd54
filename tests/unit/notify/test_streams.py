"""Backpressure and framing of stream items, without I/O."""

from __future__ import annotations

import asyncio
import json

from services.notify.domain.audiences import RequestScope
from services.notify.feed import REPLAY_CONCURRENCY, FeedHub, Subscription, render
from services.notify.repository import StoredEvent
from services.notify.streams import ItemKind, StreamItem, stream_items


def stored(position: int) -> StoredEvent:
    envelope = {"id": f"r1:{position}", "type": "request.started", "request_id": "r1", "data": {"sequence": position}}
    return StoredEvent(position, "chengzhong", "r1", "request.started", [], {"status": "started"}, envelope)


async def test_a_full_queue_marks_the_slow_client_instead_of_growing() -> None:
    subscription = Subscription(RequestScope("r1"), queue_size=2)
    for position in (1, 2, 3, 4):
        subscription.offer(render(stored(position)))

    assert subscription.overflowed
    assert subscription.queue.qsize() == 2
    assert isinstance(subscription.queue, asyncio.Queue)


def test_sse_and_websocket_carry_the_same_id_type_and_envelope() -> None:
    live = render(stored(7))
    sse_lines = live.sse.split("\n")
    ws = json.loads(live.ws)

    assert sse_lines[0] == "id: 7" and sse_lines[1] == "event: request.started"
    assert json.loads(sse_lines[2].removeprefix("data: ")) == ws["data"]
    assert ws["id"] == "7" and ws["event"] == "request.started"


def test_overflow_and_reset_carry_the_resume_pointer() -> None:
    overflow = StreamItem(ItemKind.OVERFLOW, position=41)
    reset = StreamItem(ItemKind.RESET, position=9)

    assert overflow.sse().startswith("id: 41\nevent: overflow\n")
    assert json.loads(overflow.ws())["data"]["resume_after"] == 41
    assert "reload" in json.loads(reset.ws())["data"]["reason"]
    assert StreamItem(ItemKind.HEARTBEAT).sse() == ": heartbeat\n\n"


class SlowHistory:
    """Just enough of StatusEventRepository for a feed and streams; history reads take a while."""

    def __init__(self) -> None:
        self.reading = 0
        self.most = 0

    async def settled_start(self, district_id: str, settle_seconds: float) -> int:
        return 0

    async def after(self, district_id: str, position: int, limit: int = 500) -> list[dict[str, object]]:
        return []

    async def bounds(self, district_id: str) -> tuple[int, int]:
        return 0, 0

    async def history(self, district_id: str, scope: object, *, after: int, upto: int) -> list[StoredEvent]:
        self.reading += 1
        self.most = max(self.most, self.reading)
        await asyncio.sleep(0.01)
        self.reading -= 1
        return []


async def test_a_reconnect_storm_reads_history_a_few_streams_at_a_time() -> None:
    repository = SlowHistory()
    hub = FeedHub(repository, gap_timeout=1.0, poll_seconds=60.0)  # type: ignore[arg-type]
    feed = await hub.feed("d1")
    feed.watermark = 5  # there is history to read
    streams = [
        stream_items(
            hub=hub,
            repository=repository,  # type: ignore[arg-type]
            district_id="d1",
            scope=RequestScope(f"r{n}"),
            cursor=None,
            heartbeat_seconds=0.05,
            queue_size=8,
        )
        for n in range(REPLAY_CONCURRENCY * 3)
    ]
    first = await asyncio.gather(*(anext(stream) for stream in streams))  # history read, then a heartbeat

    assert {item.kind for item in first} == {ItemKind.HEARTBEAT}
    assert repository.most == REPLAY_CONCURRENCY
    assert hub.replaying == 0 and feed.connections == len(streams)
    await asyncio.gather(*(stream.aclose() for stream in streams))
    assert feed.connections == 0
    await hub.close()
