"""Server-Sent Event framing and resume pointers."""

from __future__ import annotations

import json

from services.notify.sse import frame, parse_last_event_id
from shared.contracts import REQUEST_ASSIGNED, StatusChangedV1, new_event


def test_last_event_id_gives_the_sequence_to_resume_after() -> None:
    assert parse_last_event_id("abc123:7") == 7
    assert parse_last_event_id(None) == 0
    assert parse_last_event_id("") == 0
    assert parse_last_event_id("garbage") == 0


def test_frame_has_id_event_and_one_line_of_json() -> None:
    event = new_event(
        event_type=REQUEST_ASSIGNED,
        source="dispatch",
        district_id="chengzhong",
        request_id="r1",
        event_id="r1:2",
        data=StatusChangedV1(status="assigned", sequence=2, message="分配给 李建国\n请留意"),
    )

    text = frame(event)

    lines = text.split("\n")
    assert lines[0] == "id: r1:2"
    assert lines[1] == f"event: {REQUEST_ASSIGNED}"
    assert lines[2].startswith("data: ")
    assert text.endswith("\n\n") and len(lines) == 5
    assert json.loads(lines[2].removeprefix("data: "))["data"]["message"] == "分配给 李建国\n请留意"
