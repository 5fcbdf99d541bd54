"""Which requests the resident stream fast path takes itself; everything else is left to FastAPI's routes."""

from __future__ import annotations

from typing import Any

import pytest

from services.notify.domain.resume import MAX_POSITION
from services.notify.resident_fast_path import ResidentStreamCall, recognise

REQUEST = "a" * 40


def scope(path: str, query: str = "", headers: list[tuple[bytes, bytes]] | None = None, **extra: Any) -> Any:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": query.encode(),
        "headers": headers or [],
        **extra,
    }


def test_both_resident_urls_with_a_cursor_from_the_header_or_the_query() -> None:
    short = recognise(scope(f"/v1/requests/{REQUEST}/events", "access_token=t"))
    full = recognise(
        scope(f"/v1/districts/chengzhong/requests/{REQUEST}/events", "access_token=t", [(b"last-event-id", b"5")])
    )
    by_query = recognise(scope(f"/v1/requests/{REQUEST}/events", "access_token=t&last_event_id=x:7"))
    after_wins = recognise(scope(f"/v1/requests/{REQUEST}/events", "after=9", [(b"last-event-id", b"5")]))

    assert short == ResidentStreamCall(None, REQUEST, None)
    assert full == ResidentStreamCall("chengzhong", REQUEST, 5)
    assert by_query == ResidentStreamCall(None, REQUEST, 7)
    assert after_wins == ResidentStreamCall(None, REQUEST, 9)


@pytest.mark.parametrize(
    "call",
    [
        scope(f"/v1/requests/{REQUEST}/events", method="POST"),
        scope(f"/v1/requests/{REQUEST}/ws", type="websocket"),
        scope(f"/v1/requests/{REQUEST}/events/extra"),
        scope("/v1/districts/chengzhong/events"),  # the operator's stream
        scope(f"/v1/districts/{'d' * 64}/requests/{REQUEST}/events"),  # longer than the route allows
        scope(f"/v1/requests/{'r' * 101}/events"),
        scope(f"/v1/requests/{REQUEST}/events", "after=x"),  # FastAPI answers 422
        scope(f"/v1/requests/{REQUEST}/events", "after=-1"),
        scope(f"/v1/requests/{REQUEST}/events", f"after={MAX_POSITION + 1}"),
        scope(f"/v1/requests/{REQUEST}/events", "after=1&after=2"),  # repeated: FastAPI's rules
        scope(f"/v1/requests/{REQUEST}/events", "", [(b"last-event-id", b"1" * 201)]),
        scope(f"/v1/requests/{REQUEST}/events", "last_event_id=" + "1" * 201),
    ],
)
def test_anything_unusual_goes_to_fastapi(call: Any) -> None:
    assert recognise(call) is None
