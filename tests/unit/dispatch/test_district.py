"""Dispatch's orchestration in memory: a district fed submissions, commands, roster changes and timers.

No Kafka and no database: the same `District` the owner runs, with reference data put in its cache.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.dispatch.district import CannotApply, District
from services.dispatch.handlers import COMMAND_HANDLERS, Rules
from services.dispatch.reference import Keys, ReferenceCache
from services.dispatch.request import OfferDefaults, Request
from shared.contracts import (
    REQUEST_SUBMITTED,
    EventEnvelope,
    RequestSubmittedV1,
    RequestSubmittedV2,
    VolunteerChangedV1,
    new_event,
)
from shared.contracts import commands as c
from shared.contracts.commands import Actor, Command
from shared.mongo import Document

D = "chengzhong"
SHANGHAI = ZoneInfo("Asia/Shanghai")
# Tuesday 3 June 2014, 10:00 in Xining (02:00 UTC).
T0 = datetime(2014, 6, 3, 2, 0, tzinfo=UTC)


async def _no_fetch(key: tuple[str, ...]) -> Document | None:
    raise AssertionError(f"the unit tests put every reference document; {key} was fetched")


def reference(**menu: Any) -> ReferenceCache:
    cache = ReferenceCache(_no_fetch)
    cache.put(Keys.district(D), {"_id": D, "name_zh": "城中区", "timezone": "Asia/Shanghai"})
    for grid, community in (("g1", "c1"), ("g2", "c1"), ("g3", "c2")):
        cache.put(
            Keys.grid(D, grid), {"_id": grid, "district_id": D, "community_id": community, "street_office_id": "s1"}
        )
        cache.put(Keys.team_of_grid(D, grid), {"grid_id": grid, "captain_volunteer_id": f"captain-{grid}"})
    for community in ("c1", "c2"):
        cache.put(
            Keys.community(D, community),
            {"_id": community, "district_id": D, "director_name": f"主任{community}", "director_phone": "13900000000"},
        )
        item = {"code": "errand", "community_id": community, "required_skills": ["errand"], "urgency": "normal", **menu}
        cache.put(Keys.menu_item(D, community, "errand"), item)
    cache.put(Keys.street_office(D, "s1"), {"_id": "s1", "district_id": D, "responsible_name": "街道办"})
    return cache


def district(tz: ZoneInfo = SHANGHAI, **menu: Any) -> District:
    return District(D, reference=reference(**menu), rules=Rules(OfferDefaults(offer_timeout_seconds=600)), tz=tz)


def volunteer(vid: str, grid: str = "g1", community: str = "c1", **fields: Any) -> VolunteerChangedV1:
    base: dict[str, Any] = {
        "volunteer_id": vid,
        "street_office_id": "s1",
        "community_id": community,
        "grid_id": grid,
        "skills": ["errand"],
        "languages": ["zh"],
        "capacity": 2,
    }
    return VolunteerChangedV1.model_validate({**base, **fields})


def submission(grid: str = "g1", **fields: Any) -> EventEnvelope:
    request_id = f"r{uuid.uuid4().hex[:12]}"
    return new_event(
        event_type=REQUEST_SUBMITTED,
        source="test",
        district_id=D,
        request_id=request_id,
        event_id=f"{request_id}:submitted",
        time=T0,
        data=RequestSubmittedV1(
            menu_item_code="errand", grid_id=grid, resident_name="王仁柱", resident_phone="13800001234", **fields
        ),
    )


def command(request: Request, payload: Command) -> EventEnvelope:
    return new_event(
        event_type=payload.command_type,
        source="test",
        district_id=D,
        request_id=request.id,
        event_id=f"{request.id}:{payload.command_type}:{uuid.uuid4().hex[:8]}",
        data=payload,
    )


def by(vid: str) -> Actor:
    return Actor(role="volunteer", subject=vid)


OPERATOR = Actor(role="operator", subject="desk-1")


def send(d: District, request: Request, payload: Command, at: datetime = T0) -> EventEnvelope:
    envelope = command(request, payload)
    d.command(envelope, payload, at)
    return envelope


def submit(d: District, envelope: EventEnvelope | None = None, at: datetime = T0) -> Request:
    envelope = envelope or submission()
    data = RequestSubmittedV1.model_validate(envelope.data)
    d.submit(envelope, data, at)
    return d.requests[envelope.request]


def types(request: Request) -> list[str]:
    return [e["type"] for e in request.timeline]


def test_every_command_has_exactly_one_handler() -> None:
    assert set(COMMAND_HANDLERS) == set(c.COMMANDS)


def test_offer_decline_accept_and_complete_move_the_load_and_rematch_the_waiting() -> None:
    d = district()
    d.volunteer_changed(volunteer("v1", capacity=1), T0)
    d.volunteer_changed(volunteer("v2", capacity=1), T0)
    first = submit(d)
    assert first.state.offered_to == {"v1"}  # equal load, never assigned: id breaks the tie
    send(d, first, c.DeclineOfferV1(actor=by("v1"), volunteer_id="v1"))
    assert first.state.offered_to == {"v2"}
    send(d, first, c.AcceptOfferV1(actor=by("v2"), volunteer_id="v2"))
    assert first.holder == "v2" and d.roster.spare("v2") == 0

    second = submit(d)
    assert second.state.offered_to == {"v1"}
    send(d, second, c.DeclineOfferV1(actor=by("v1"), volunteer_id="v1"))
    # v2 is full and v1 declined: nobody left in the grid, so it climbs to the community (nobody there either).
    assert second.state.level.wire_name != "grid" and not second.state.offered_to

    send(d, first, c.StartWorkV1(actor=by("v2"), volunteer_id="v2"))
    send(d, first, c.CompleteWorkV1(actor=by("v2"), volunteer_id="v2"))
    assert first.status.value == "resolved" and d.roster.spare("v2") == 1
    changes = d.take_changes()
    assert changes.loads["v2"].open_assignments == 0
    assert set(changes.requests) == {first.id, second.id}


def test_redelivered_submission_and_command_change_nothing() -> None:
    d = district()
    d.volunteer_changed(volunteer("v1"), T0)
    envelope = submission()
    request = submit(d, envelope)
    assert d.submit(envelope, RequestSubmittedV1.model_validate(envelope.data), T0) is None
    accept = send(d, request, c.AcceptOfferV1(actor=by("v1"), volunteer_id="v1"))
    events = len(request.timeline)
    d.command(accept, c.AcceptOfferV1(actor=by("v1"), volunteer_id="v1"), T0)
    assert len(request.timeline) == events
    assert types(request).count("request.assigned") == 1 and d.roster.get("v1").open_assignments == 1  # type: ignore[union-attr]


def test_a_volunteer_cannot_answer_for_someone_else() -> None:
    d = district()
    d.volunteer_changed(volunteer("v1"), T0)
    request = submit(d)
    send(d, request, c.AcceptOfferV1(actor=by("v9"), volunteer_id="v1"))
    assert request.holder is None and types(request)[-1] == "request.command_rejected"


def test_a_redo_is_rated_anew_and_only_the_last_cycle_counts() -> None:
    d = district()
    d.volunteer_changed(volunteer("v1", capacity=3), T0)
    request = submit(d)
    resident = Actor(role="resident", subject="138****1234")
    for stars in (1, 5):
        volunteer_id = next(iter(request.state.offered_to))
        send(d, request, c.AcceptOfferV1(actor=by(volunteer_id), volunteer_id=volunteer_id))
        send(d, request, c.CompleteWorkV1(actor=by(volunteer_id), volunteer_id=volunteer_id))
        send(d, request, c.RateRequestV1(actor=resident, stars=stars))
        if stars == 1:
            assert request.status.value == "offered" and request.rating is None  # reopened, offered again
    assert request.status.value == "rated"
    assert [(r["cycle"], r["stars"]) for r in request.ratings] == [(0, 1), (1, 5)]
    stored = request.to_document(epoch=1)
    assert stored["rating"]["stars"] == 5 and stored["redo_count"] == 1
    assert Request.from_document(stored).rating == request.rating


def test_available_volunteers_deep_in_the_district_are_asked_before_escalating() -> None:
    """The first cut kept the 50 least-loaded before applying availability: the others were never asked."""
    d = district()
    for n in range(120):  # least loaded, but off duty
        d.volunteer_changed(volunteer(f"off-{n:03}", grid="g3", community="c2", on_duty=False), T0)
    d.volunteer_changed(volunteer("busy-but-there", grid="g3", community="c2", capacity=3), T0)
    d.roster.restore_load("busy-but-there", 2, T0 - timedelta(days=1))
    request = submit(d, submission(grid="g3"))
    assert request.state.offered_to == {"busy-but-there"}
    assert request.decisions[-1]["excluded"][0]["codes"] == ["off_duty"]


def test_priority_paces_the_clocks_and_picks_widening_offers() -> None:
    d = district()
    for n in range(5):
        d.volunteer_changed(volunteer(f"v{n}"), T0)
    normal = submit(d)
    assert len(normal.state.offered_to) == 1
    resolve_before = normal.clocks["resolve"]
    send(d, normal, c.ChangePriorityV1(actor=OPERATOR, priority="high"))
    assert normal.priority == "high"
    assert normal.clocks["resolve"] - T0 == (resolve_before - T0) / 2
    stored = normal.to_document(epoch=1)
    assert stored["accept_due_at"] == normal.clocks["accept"] and stored["resolve_due_at"] == normal.clocks["resolve"]
    critical = submit(d, submission(priority="critical"))
    assert len(critical.state.offered_to) == 3  # widening rounds: the first three at once


def test_the_districts_time_zone_decides_availability() -> None:
    """08:00–18:00 on Tuesday: it is 10:00 in Xining but 22:00 (Monday) in New York at T0."""
    window = [{"weekday": 1, "start": "08:00", "end": "18:00"}]
    here, there = district(SHANGHAI), district(ZoneInfo("America/New_York"))
    for d in (here, there):
        d.volunteer_changed(volunteer("v1", availability=window), T0)
    assert submit(here).state.offered_to == {"v1"}
    assert submit(there).state.offered_to == set()


def test_escalation_names_whom_to_page_and_moves_the_due_dates() -> None:
    d = district()
    request = submit(d)  # nobody in the roster: it climbs at once
    escalated = [e for e in request.timeline if e["type"] == "request.escalated"]
    assert escalated[0]["data"]["detail"]["responsible"] == {
        "role": "community_director",
        "name": "主任c1",
        "phone": "13900000000",
    }
    assert escalated[-1]["data"]["detail"]["responsible"]["role"] == "district"
    assert request.to_document(epoch=1)["accept_due_at"] == request.clocks["accept"]


def test_an_sla_warning_names_the_volunteer_on_the_job_and_each_timer_fires_once() -> None:
    d = district(deadlines={"grid": {"accept_minutes": 10, "resolve_minutes": 100}})
    d.volunteer_changed(volunteer("v1"), T0)
    request = submit(d)
    send(d, request, c.AcceptOfferV1(actor=by("v1"), volunteer_id="v1"))
    warn_at = T0 + timedelta(minutes=81)
    assert d.fire_due_timers(warn_at) >= 1
    warnings = [e["data"] for e in request.timeline if e["type"] == "request.sla_warning"]
    assert [(w["volunteer_id"], w["detail"]["clock"]) for w in warnings] == [("v1", "resolve")]
    assert warnings[0]["detail"]["responsible"] == {"role": "team_captain", "volunteer_id": "captain-g1"}
    assert d.fire_due_timers(warn_at) == 0


def test_roster_changes_reach_matching_and_restore_keeps_the_timers() -> None:
    d = district()
    request = submit(d, submission(grid="g1"))
    assert request.waiting
    d.volunteer_changed(volunteer("late", grid="g1"), T0 + timedelta(seconds=1))
    # Added after the request climbed to the district: the waiting request is offered at once.
    assert request.state.offered_to == {"late"}
    stored = request.to_document(epoch=3)
    assert stored["live_district_id"] == D and stored["owner_epoch"] == 3
    again = district()
    again.volunteer_changed(volunteer("late", grid="g1"), T0)
    again.adopt(Request.from_document(stored))
    offer_timeout = T0 + timedelta(seconds=601)
    again.fire_due_timers(offer_timeout)
    assert types(again.requests[request.id])[-1] in ("request.offer_expired", "request.unmatched", "request.escalated")


def test_a_command_that_breaks_is_refused_visibly() -> None:
    d = district()
    d.volunteer_changed(volunteer("v1"), T0)
    request = submit(d)

    def broken(*_: object) -> None:
        raise KeyError("boom")

    original = COMMAND_HANDLERS[c.AddNoteV1]
    COMMAND_HANDLERS[c.AddNoteV1] = broken
    try:
        with pytest.raises(CannotApply):
            send(d, request, c.AddNoteV1(actor=OPERATOR, text="hello"))
    finally:
        COMMAND_HANDLERS[c.AddNoteV1] = original
    assert types(request)[-1] == "request.command_rejected" and request.state.offered_to == {"v1"}


def test_a_level_is_matched_again_before_climbing_when_the_shortlist_was_cut() -> None:
    d = district()
    for n in range(15):
        d.volunteer_changed(volunteer(f"v{n:02}"), T0)
    request = submit(d)
    for _ in range(14):
        (asked,) = request.state.offered_to
        send(d, request, c.DeclineOfferV1(actor=by(asked), volunteer_id=asked))
    assert request.state.level.wire_name == "grid" and request.state.offered_to == {"v14"}
    assert sum(1 for decision in request.decisions if decision["kind"] == "match") == 2


def test_answers_keep_keys_the_database_cannot_store_in_a_storable_form() -> None:
    d = district()
    request = submit(d, submission(attributes={"size.kg": 10, "$where": "x", "list": [{"a.b": 1}]}))
    stored = request.to_document(epoch=1)["attributes"]
    assert stored == {"size\uff0ekg": 10, "\uff04where": "x", "list": [{"a\uff0eb": 1}]}


def test_an_outbox_written_but_not_published_is_published_after_a_restore() -> None:
    d = district()
    d.volunteer_changed(volunteer("v1"), T0)
    request = submit(d)
    stored = request.to_document(epoch=1)  # written, then the process died before publishing
    again = district()
    again.adopt(Request.from_document(stored))
    changes = again.take_changes()
    assert [e["type"] for e in changes.requests[request.id].outbox] == types(request)


def test_a_household_without_a_phone_is_matched_and_stored_with_its_resident_id() -> None:
    d = district()
    d.volunteer_changed(volunteer("v1"), T0)
    request_id = f"r{uuid.uuid4().hex[:12]}"
    data = RequestSubmittedV2(
        menu_item_code="errand", grid_id="g1", resident_name="马秀兰", resident_id="r-3-2-401", resident_language="zh"
    )
    envelope = new_event(
        event_type=REQUEST_SUBMITTED,
        source="test",
        district_id=D,
        request_id=request_id,
        event_id=f"{request_id}:submitted",
        time=T0,
        data=data,
        schema_version=2,
    )

    d.submit(envelope, RequestSubmittedV2.model_validate(envelope.data), T0)

    request = d.requests[request_id]
    assert request.state.offered_to == {"v1"}
    document = request.to_document(epoch=1)
    assert (document["resident_id"], document["resident_phone"]) == ("r-3-2-401", None)
    assert document["resident"] == {"name": "马秀兰", "phone": None, "language": "zh", "id": "r-3-2-401"}
