"""Scheduled care in the in-memory district: weeks of simulated time, restarts, misses and the visit log.

No Kafka and no database: `Store` below stands for what the owner writes and reads back (documents by `_id`),
and `drive` does what the owner's loop does around the district (`services/dispatch/care.open_care_work`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.dispatch import care_rates
from services.dispatch.care import care_log_documents
from services.dispatch.district import District
from services.dispatch.domain.care import occurrence_request_id, welfare_check_id
from services.dispatch.request import Request
from shared.contracts import commands as c
from shared.contracts import new_event
from shared.contracts.care import CarePlanChangedV1
from shared.contracts.commands import Actor, Command
from shared.mongo import Document
from tests.unit.dispatch.test_district import D, by, district, volunteer

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
# Monday 30 November 2026, 00:00 in Shanghai.
START = datetime(2026, 11, 29, 16, 0, tzinfo=UTC)
STEP = timedelta(minutes=10)
RESIDENT: Document = {
    "_id": "res-1",
    "district_id": D,
    "grid_id": "g1",
    "name": "王大爷",
    "phone": "+8613800001234",
    "language": "zh",
    "proxy": {"kind": "building_leader", "name": "马阿姨", "phone": "+8613800005678"},
}


def plan(**fields: Any) -> CarePlanChangedV1:
    base: dict[str, Any] = {
        "plan_id": "p1",
        "resident_id": "res-1",
        "grid_id": "g1",
        "kind": "check_in",
        "schedule": {"starts_on": "2026-11-30", "weekdays": [0, 3], "window_start": "09:00", "window_end": "11:00"},
        "volunteer_id": "v1",
        "alert": [{"role": "family", "name": "王小明", "phone": "+8613900001111"}],
    }
    return CarePlanChangedV1.model_validate({**base, **fields})


@dataclass
class Store:
    """What the owner wrote: requests and cursors by `_id`; `created` lists every care request created."""

    requests: dict[str, Document] = field(default_factory=dict)
    cursors: dict[str, Document] = field(default_factory=dict)
    log: dict[str, Document] = field(default_factory=dict)
    rates: dict[str, dict[str, float]] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)


def drive(d: District, store: Store, now: datetime, *, write: bool = True) -> None:
    """One turn of the owner's loop: timers, care work read by id and created, then the batch's write."""
    d.fire_due_timers(now)
    for request_id, ids in d.settle_candidates():
        d.settle(request_id, [i for i in ids if i not in d.requests and i not in store.requests], now)
    for work in d.due_care_work(now):
        existing = None if work.request_id in d.requests else store.requests.get(work.request_id)
        if d.open_care(work, existing, RESIDENT, now):
            store.created.append(work.request_id)
    changes = d.take_changes()
    cursors = d.care.take_cursors()
    if not write:
        return  # crashed before writing
    rates = care_rates.updates(changes.requests.values())
    for request in changes.requests.values():
        store.requests[request.id] = request.to_document(epoch=1)
        request.changed, request.outbox = False, []
    store.cursors.update({cursor["_id"]: cursor for cursor in cursors})
    store.log.update({entry["_id"]: entry for entry in care_log_documents(changes.requests.values())})
    for key, _, increments in rates:
        for name, value in increments.items():
            store.rates.setdefault(key, {})[name] = store.rates.get(key, {}).get(name, 0) + value
    d.forget_closed()


def restart(store: Store, plans: list[CarePlanChangedV1], now: datetime, tz: ZoneInfo = SHANGHAI) -> District:
    """A new owner: live requests, plans and cursors from the store (as `DispatchStore.restore` reads them)."""
    d = district(tz)
    d.care.tz = tz
    d.volunteer_changed(volunteer("v1", capacity=5), now)
    for document in store.requests.values():
        if document.get("live_district_id") == D:
            d.adopt(Request.from_document(document))
    stored_plans = [{**p.model_dump(mode="json"), "_id": p.plan_id, "district_id": D} for p in plans]
    assert d.restore_care(stored_plans, list(store.cursors.values()), now) == []
    return d


def send(d: District, request_id: str, payload: Command, now: datetime) -> None:
    envelope = new_event(
        event_type=payload.command_type, source="test", district_id=D, request_id=request_id, data=payload
    )
    d.command(envelope, payload, now)


def volunteer_answers(d: District, now: datetime, outcome: str | None = "fine") -> None:
    """v1 accepts every care offer, and records each visit an hour after its window opened."""
    for request in list(d.requests.values()):
        if not (request.care or {}).get("plan_id"):
            continue
        if "v1" in request.state.offered_to:
            send(d, request.id, c.AcceptOfferV1(actor=by("v1"), volunteer_id="v1"), now)
        if outcome and request.holder == "v1" and now >= request.care["window_start"] + timedelta(hours=1):  # type: ignore[index]
            need = {"menu_item_code": "errand", "text": "米和油"} if outcome == "needs_something" else None
            send(
                d,
                request.id,
                c.RecordVisitOutcomeV1(
                    actor=by("v1"),
                    volunteer_id="v1",
                    outcome=outcome,
                    need=need,
                ),
                now,
            )


def run(d: District, store: Store, start: datetime, end: datetime, outcome: str | None = "fine") -> None:
    now = start
    while now < end:
        volunteer_answers(d, now, outcome)
        drive(d, store, now)
        now += STEP


def expected_days(first: date, last: date, weekdays: set[int]) -> list[str]:
    days, day = [], first
    while day <= last:
        if day.weekday() in weekdays:
            days.append(occurrence_request_id("p1", day))
        day += timedelta(days=1)
    return days


def test_six_weeks_of_a_weekly_check_in_create_each_occurrence_once_and_confirm_it() -> None:
    d, store = restart(Store(), [], START), Store()
    d.plan_changed(plan(), START)
    run(d, store, START, START + timedelta(weeks=6))
    occurrences = [r for r in store.created if r.count(":") == 2]
    assert occurrences == expected_days(date(2026, 11, 30), date(2027, 1, 10), {0, 3})
    assert len(set(occurrences)) == len(occurrences) == 12
    for request_id in occurrences:
        stored = store.requests[request_id]
        assert stored["status"] == "resolved" and stored["care"]["confirmed_at"] is not None
        assert stored["care"]["on_time"] is True and stored["resident"]["id"] == "res-1"
    assert not any(r.endswith(":welfare") for r in store.created)
    grid = store.rates[care_rates.rate_id(D, "grid", "g1", "2026-12")]
    assert grid["check_ins"] == grid["on_time"] == 9 and "missed" not in grid
    # The visit log: one entry per visit, for the household.
    assert sum(1 for e in store.log.values() if e["resident_id"] == "res-1" and e["entry"] == "visit") == 12


def test_restarts_at_every_point_of_a_week_neither_double_nor_skip_an_occurrence() -> None:
    """The owner crashes every 7 hours, sometimes after writing the batch and before anything else, and
    sometimes before writing it; the new owner restores from what was written."""
    store = Store()
    d = restart(store, [], START)
    d.plan_changed(
        plan(schedule={"starts_on": "2026-11-30", "every_days": 1, "window_start": "09:00", "window_end": "11:00"}),
        START,
    )
    plans = [
        plan(schedule={"starts_on": "2026-11-30", "every_days": 1, "window_start": "09:00", "window_end": "11:00"})
    ]
    now, end, turns = START, START + timedelta(weeks=3), 0
    while now < end:
        volunteer_answers(d, now)
        turns += 1
        if turns % 42 == 0:
            drive(d, store, now, write=turns % 84 == 0)  # written, or lost with the crash
            d = restart(store, plans, now)
        else:
            drive(d, store, now)
        now += STEP
    occurrences = [r for r in store.created if r.count(":") == 2]
    assert sorted(set(occurrences)) == expected_days(date(2026, 11, 30), date(2026, 12, 20), set(range(7)))
    # A creation lost with a crash (never written) is made again; one that was written never is.
    written_twice = [r for r in set(occurrences) if occurrences.count(r) > 1]
    assert all(r in store.requests for r in written_twice)
    assert all(store.requests[r]["status"] == "resolved" for r in set(occurrences))


def test_an_occurrence_written_before_the_crash_but_whose_cursor_was_not_is_found_not_created_again() -> None:
    store = Store()
    d = restart(store, [], START)
    d.plan_changed(plan(), START)
    nine = START + timedelta(hours=9)  # Monday 09:00 local
    drive(d, store, nine)
    first = occurrence_request_id("p1", date(2026, 11, 30))
    assert store.created == [first]
    store.cursors.clear()  # the cursor's write was lost (crash between the two writes)
    store.cursors["p1"] = {"_id": "p1", "district_id": D, "done_through": None, "not_before": START}
    d = restart(store, [plan()], nine + STEP)
    drive(d, store, nine + STEP)
    assert store.created == [first] and first in d.requests
    assert store.cursors["p1"]["done_through"] == "2026-11-30"


def test_a_plan_edited_mid_cycle_moves_the_next_occurrence_without_repeating_today() -> None:
    store = Store()
    d = restart(store, [], START)
    d.plan_changed(plan(), START)
    run(d, store, START, START + timedelta(hours=10))  # Monday's 09:00 occurrence is created
    edited = plan(
        schedule={"starts_on": "2026-11-30", "weekdays": [0, 1], "window_start": "15:00", "window_end": "17:00"}
    )
    d.plan_changed(edited, START + timedelta(hours=10))
    run(d, store, START + timedelta(hours=10), START + timedelta(days=2))
    assert [r for r in store.created if r.count(":") == 2] == [
        occurrence_request_id("p1", date(2026, 11, 30)),
        occurrence_request_id("p1", date(2026, 12, 1)),
    ]
    tuesday = store.requests[occurrence_request_id("p1", date(2026, 12, 1))]
    assert tuesday["care"]["window_start"].astimezone(SHANGHAI).hour == 15


def test_a_missed_check_in_opens_one_critical_welfare_check_naming_whom_to_alert() -> None:
    store = Store()
    d = restart(store, [], START)
    d.volunteer_changed(volunteer("v2", capacity=5), START)
    d.plan_changed(plan(), START)
    run(d, store, START, START + timedelta(hours=12), outcome=None)  # v1 accepts but never reports
    check_in = occurrence_request_id("p1", date(2026, 11, 30))
    welfare = welfare_check_id(check_in)
    assert store.created == [check_in, welfare]
    opened = d.requests[welfare]
    assert opened.priority == "critical" and opened.menu.urgency == "critical"
    assert opened.rounds is not None and opened.rounds.policy.widen_every is not None  # widening rounds
    roles = {a["role"] for a in opened.care["alert"]}  # type: ignore[index]
    assert {"family", "building_leader", "linked_heart"} <= roles
    notes = [e for e in opened.timeline if e["type"] == "request.note_added"]
    assert notes and notes[0]["data"]["critical"] and notes[0]["data"]["detail"]["alert"]
    missed = store.requests[check_in]["care"]
    assert missed["missed_reason"] == "no_answer" and missed["welfare_request_id"] == welfare
    # Opened at the window's end (11:00), not later.
    assert opened.created_at - missed["window_end"] <= STEP


def test_no_response_reported_on_a_visit_opens_the_welfare_check_at_once_and_closes_the_visit() -> None:
    store = Store()
    d = restart(store, [], START)
    d.volunteer_changed(volunteer("v2", capacity=5), START)
    d.plan_changed(plan(), START)
    run(d, store, START, START + timedelta(hours=10, minutes=30), outcome="no_response")
    check_in = occurrence_request_id("p1", date(2026, 11, 30))
    assert store.created == [check_in, welfare_check_id(check_in)]
    assert store.requests[check_in]["status"] == "resolved"
    assert store.requests[check_in]["care"]["missed_reason"] == "no_response"
    assert store.rates[care_rates.rate_id(D, "grid", "g1", "2026-11")]["missed"] == 1


def test_a_need_found_on_a_visit_is_filed_as_a_request_once() -> None:
    store = Store()
    d = restart(store, [], START)
    d.plan_changed(plan(kind="visit"), START)
    run(d, store, START, START + timedelta(hours=12), outcome="needs_something")
    visit = occurrence_request_id("p1", date(2026, 11, 30))
    need = f"{visit}:need:0"
    assert store.created == [visit, need]
    assert store.requests[need]["menu_item_code"] == "errand" and store.requests[need]["text"] == "米和油"
    assert store.requests[visit]["status"] == "resolved"
    assert store.requests[visit]["care"]["log"][0]["filed_request_id"] == need


def test_welfare_check_written_but_not_its_link_is_found_after_a_restart() -> None:
    store = Store()
    d = restart(store, [], START)
    d.plan_changed(plan(), START)
    run(d, store, START, START + timedelta(hours=11, minutes=10), outcome=None)
    check_in = occurrence_request_id("p1", date(2026, 11, 30))
    welfare = welfare_check_id(check_in)
    assert welfare in store.created
    # The crash hit between the two documents: the welfare check is stored, the check-in's link is not.
    store.requests[check_in]["care"]["welfare_request_id"] = None
    d = restart(store, [plan()], START + timedelta(hours=11, minutes=20))
    run(d, store, START + timedelta(hours=11, minutes=20), START + timedelta(hours=12), outcome=None)
    assert store.created.count(welfare) == 1
    assert store.requests[check_in]["care"]["welfare_request_id"] == welfare


def test_a_check_in_asks_the_resident_when_its_window_opens_and_a_visit_does_not() -> None:
    store = Store()
    d = restart(store, [], START)
    d.plan_changed(plan(), START)
    d.plan_changed(plan(plan_id="p2", kind="visit"), START)
    drive(d, store, START + timedelta(hours=9))
    check_in = store.requests[occurrence_request_id("p1", date(2026, 11, 30))]
    (asked,) = [e for e in check_in["timeline"] if e["type"] == "care.check_in_due"]
    assert asked["data"]["detail"]["window_end"] == check_in["care"]["window_end"].isoformat()
    visit = store.requests[occurrence_request_id("p2", date(2026, 11, 30))]
    assert not [e for e in visit["timeline"] if e["type"] == "care.check_in_due"]


def test_the_residents_own_im_fine_confirms_a_check_in() -> None:
    store = Store()
    d = restart(store, [], START)
    d.plan_changed(plan(volunteer_id=None), START)
    nine = START + timedelta(hours=9)
    drive(d, store, nine)
    check_in = occurrence_request_id("p1", date(2026, 11, 30))
    resident = Actor(role="resident", subject="138****1234")
    send(d, check_in, c.ConfirmCheckInV1(actor=resident, note="我很好"), nine + STEP)
    run(d, store, nine + STEP, START + timedelta(hours=12), outcome=None)
    stored = store.requests[check_in]
    assert stored["care"]["confirmed_by"] == "resident:138****1234" and stored["care"]["on_time"]
    assert stored["status"] in ("cancelled", "resolved") and welfare_check_id(check_in) not in store.created
    closed = stored["timeline"][-1]
    assert closed["type"] in ("request.cancelled", "request.resolved")
    assert closed["data"]["detail"]["tell_resident"] is False  # no "your request was cancelled" text


def test_a_plan_in_berlin_runs_through_the_dst_change_at_local_time() -> None:
    store = Store()
    start = datetime(2026, 3, 22, 23, 0, tzinfo=UTC)  # Monday 23 March 2026, 00:00 CET
    d = restart(store, [], start, tz=BERLIN)
    d.plan_changed(
        plan(schedule={"starts_on": "2026-03-23", "every_days": 2, "window_start": "09:00", "window_end": "10:00"}),
        start,
    )
    run(d, store, start, start + timedelta(weeks=2))
    occurrences = [r for r in store.created if r.count(":") == 2]
    assert len(occurrences) == len(set(occurrences)) == 7
    assert {store.requests[r]["care"]["window_start"].astimezone(BERLIN).hour for r in occurrences} == {9}


def test_recurring_work_without_a_linked_heart_is_spread_over_the_grids_volunteers() -> None:
    """Four daily visits due at the same minute, nobody linked: over four weeks each volunteer of the grid
    carries about the same share (load, then least recently assigned, as for any request)."""
    store = Store()
    d = restart(store, [], START)
    d.volunteer_changed(volunteer("v2", capacity=5), START)
    daily = {"starts_on": "2026-11-30", "every_days": 1, "window_start": "09:00", "window_end": "11:00"}
    for n in range(4):
        d.plan_changed(plan(plan_id=f"p{n}", kind="visit", volunteer_id=None, schedule=daily), START)
    now, end = START, START + timedelta(weeks=4)
    while now < end:
        for request in list(d.requests.values()):
            for volunteer_id in sorted(request.state.offered_to):
                send(d, request.id, c.AcceptOfferV1(actor=by(volunteer_id), volunteer_id=volunteer_id), now)
            holder = request.holder
            care = request.care or {}
            if holder and care.get("plan_id") and now >= care["window_start"] + timedelta(hours=1):
                send(d, request.id, c.RecordVisitOutcomeV1(actor=by(holder), volunteer_id=holder, outcome="fine"), now)
        drive(d, store, now)
        now += STEP
    served = Counter(store.requests[r]["assigned_volunteer_id"] for r in store.created)
    assert sum(served.values()) == 4 * 28
    assert served == {"v1": 56, "v2": 56}  # each day's four go to the one less recently assigned, alternately
