"""The event envelope and its typed payloads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.contracts import (
    REQUEST_ASSIGNED,
    REQUEST_SUBMITTED,
    EventEnvelope,
    RequestSubmittedV1,
    StatusChangedV1,
    Topics,
    UnknownEventError,
    decode_data,
    new_event,
)

SUBMITTED = RequestSubmittedV1(
    menu_item_code="errand.medicine", grid_id="xgll-01", resident_name="马明汉", resident_phone="13800001234"
)


def submitted_event(**overrides: object) -> EventEnvelope:
    event = new_event(
        event_type=REQUEST_SUBMITTED, source="intake", district_id="chengzhong", request_id="r1", data=SUBMITTED
    )
    return event.model_copy(update=overrides)


def test_envelope_round_trips_through_bytes() -> None:
    event = submitted_event()

    decoded = EventEnvelope.from_bytes(event.to_bytes())

    assert decoded == event
    assert decode_data(decoded) == SUBMITTED


def test_envelope_carries_the_agreed_fields() -> None:
    assert set(submitted_event().model_dump()) == {
        "id",
        "type",
        "source",
        "time",
        "district_id",
        "request_id",
        "schema_version",
        "data",
    }


def test_unknown_type_or_version_is_refused_by_name() -> None:
    with pytest.raises(UnknownEventError, match=r"request\.teleported"):
        decode_data(submitted_event(type="request.teleported"))
    with pytest.raises(UnknownEventError, match="version 9"):
        decode_data(submitted_event(schema_version=9))


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"id": "x"}',
        submitted_event().to_bytes().replace(b'"chengzhong"', b'"Chengzhong District"'),
        submitted_event().to_bytes().replace(b'"data":', b'"extra": 1, "data":'),
    ],
)
def test_malformed_envelopes_fail_validation(raw: bytes) -> None:
    with pytest.raises(ValidationError):
        EventEnvelope.from_bytes(raw)


def test_envelope_time_must_carry_a_timezone() -> None:
    with pytest.raises(ValidationError):
        submitted_event().model_validate({**submitted_event().model_dump(), "time": datetime(2026, 1, 1)})
    assert submitted_event().time.tzinfo is not None
    assert submitted_event(time=datetime(2026, 1, 1, tzinfo=UTC)).time.year == 2026


def test_payloads_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        RequestSubmittedV1.model_validate({**SUBMITTED.model_dump(), "vip": True})
    with pytest.raises(ValidationError):
        StatusChangedV1.model_validate({"status": "assigned", "sequence": 0})


def test_status_events_share_one_payload_model() -> None:
    event = new_event(
        event_type=REQUEST_ASSIGNED,
        source="dispatch",
        district_id="chengzhong",
        request_id="r1",
        data=StatusChangedV1(status="assigned", sequence=2, volunteer_id="v-1"),
    )

    payload = decode_data(event)

    assert isinstance(payload, StatusChangedV1)
    assert payload.volunteer_id == "v-1"


def test_topics_are_versioned_and_prefixed() -> None:
    topics = Topics(prefix="t1.")

    assert topics.requests == "t1.grid.requests.v2"
    assert topics.status == "t1.grid.status.v2"
    assert topics.partition_counts()[topics.requests] == 6
