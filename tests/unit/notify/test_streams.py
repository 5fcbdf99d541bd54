"""Backpressure and framing of stream items, without I/O."""

from __future__ import annotations

import asyncio
import json

from services.notify.domain.audiences import RequestScope
from services.notify.feed import Subscription, render
from services.notify.repository import StoredEvent
from services.notify.streams import ItemKind, StreamItem


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
