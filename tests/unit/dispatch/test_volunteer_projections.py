"""volunteer_tasks and service_records: what dispatch writes for the volunteer page, from a district in memory."""

from __future__ import annotations

from datetime import date, timedelta

from services.dispatch import service_record, volunteer_tasks
from services.dispatch.district import District, volunteer_of
from services.dispatch.domain.matching import ExclusionCode
from services.dispatch.request import Request
from shared.contracts import commands as c
from tests.unit.dispatch.test_district import (
    OPERATOR,
    SHANGHAI,
    T0,
    D,
    by,
    district,
    send,
    submit,
    volunteer,
)


def documents_of(d: District, changed: list[Request]) -> dict[str, dict[str, object]]:
    touched = volunteer_tasks.touched_volunteers(changed)
    docs = volunteer_tasks.documents(D, d.requests, touched, now=T0, epoch=3)
    return {str(doc["_id"]): doc for doc in docs}


def flushed(d: District) -> list[Request]:
    """What the owner's flush sees; then the outboxes are published (emptied), as after a real flush."""
    changed = list(d.take_changes().requests.values())
    return changed


def publish(changed: list[Request]) -> None:
    for request in changed:
        request.outbox = []


def one_volunteer_district(*ids: str) -> District:
    d = district()
    for vid in ids:
        d.volunteer_changed(volunteer(vid), T0)
    return d


class TestVolunteerTasks:
    def test_an_offer_appears_in_the_offered_volunteers_document_with_its_countdown(self) -> None:
        d = one_volunteer_district("v-a")
        request = submit(d)
        docs = documents_of(d, flushed(d))
        assert set(docs) == {"v-a"}
        offers: list[dict[str, object]] = docs["v-a"]["offers"]  # type: ignore[assignment]
        (offer,) = offers
        assert offer["request_id"] == request.id and offer["menu_item_code"] == "errand"
        assert offer["expires_at"] == T0 + timedelta(seconds=600)
        assert docs["v-a"]["assignments"] == [] and docs["v-a"]["district_id"] == D

    def test_accepting_moves_it_to_assignments_and_resolving_empties_the_list(self) -> None:
        d = one_volunteer_district("v-a")
        request = submit(d)
        publish(flushed(d))
        send(d, request, c.AcceptOfferV1(actor=by("v-a"), volunteer_id="v-a"))
        docs = documents_of(d, changed := flushed(d))
        publish(changed)
        assert docs["v-a"]["offers"] == [] and [a["request_id"] for a in docs["v-a"]["assignments"]] == [request.id]  # type: ignore[attr-defined]
        send(d, request, c.StartWorkV1(actor=by("v-a"), volunteer_id="v-a"))
        send(d, request, c.CompleteWorkV1(actor=by("v-a"), volunteer_id="v-a", note="done"))
        docs = documents_of(d, flushed(d))
        assert docs["v-a"]["offers"] == [] and docs["v-a"]["assignments"] == []

    def test_a_declined_offer_leaves_the_first_volunteer_and_reaches_the_next(self) -> None:
        d = one_volunteer_district("v-a", "v-b")
        request = submit(d)
        first = next(iter(request.state.offered_to))
        publish(flushed(d))
        send(d, request, c.DeclineOfferV1(actor=by(first), volunteer_id=first, reason="busy"))
        docs = documents_of(d, flushed(d))
        second = ({"v-a", "v-b"} - {first}).pop()
        assert docs[first]["offers"] == []
        assert [o["request_id"] for o in docs[second]["offers"]] == [request.id]  # type: ignore[attr-defined]

    def test_rebuilding_twice_gives_the_same_documents(self) -> None:
        d = one_volunteer_district("v-a")
        submit(d)
        changed = flushed(d)
        assert documents_of(d, changed) == documents_of(d, changed)


class TestServiceRecord:
    def resolved(self, d: District, minutes: int = 40) -> Request:
        request = submit(d)
        send(d, request, c.AcceptOfferV1(actor=by("v-a"), volunteer_id="v-a"), T0)
        send(d, request, c.StartWorkV1(actor=by("v-a"), volunteer_id="v-a"), T0 + timedelta(minutes=5))
        send(d, request, c.CompleteWorkV1(actor=by("v-a"), volunteer_id="v-a"), T0 + timedelta(minutes=5 + minutes))
        return request

    def test_a_resolved_task_counts_its_minutes_from_start_to_resolve_in_the_local_month(self) -> None:
        d = one_volunteer_district("v-a")
        request = self.resolved(d)
        (work,) = service_record.work_of(request)
        assert (work.volunteer_id, work.minutes, work.measured_minutes, work.stars) == ("v-a", 40, 40, None)
        updates = dict(service_record.updates([request], SHANGHAI))
        assert set(updates) == {"volunteer:v-a:2014-06", f"grid:{D}:g1:2014-06"}
        entry = updates["volunteer:v-a:2014-06"][f"tasks.{request.id}-0"]
        assert entry["minutes"] == 40 and entry["grid_id"] == "g1"

    def test_the_rating_lands_in_the_same_entry_and_repeating_the_update_changes_nothing(self) -> None:
        d = one_volunteer_district("v-a")
        request = self.resolved(d)
        send(d, request, c.RateRequestV1(actor=OPERATOR, stars=5), T0 + timedelta(hours=2))
        first = service_record.updates([request], SHANGHAI)
        assert first == service_record.updates([request], SHANGHAI)  # idempotent: $set of the same values
        assert dict(first)["volunteer:v-a:2014-06"][f"tasks.{request.id}-0"]["stars"] == 5

    def test_an_edit_within_limits_replaces_the_minutes_and_is_kept_as_audit(self) -> None:
        d = one_volunteer_district("v-a")
        request = self.resolved(d, minutes=40)
        send(d, request, c.EditServiceHoursV1(actor=by("v-a"), volunteer_id="v-a", minutes=90, reason="忘了点开始"))
        (work,) = service_record.work_of(request)
        assert (work.minutes, work.measured_minutes, work.edited) == (90, 40, True)
        assert request.hours_edits[-1]["by"] == "volunteer:v-a"
        assert request.decisions[-1]["kind"] == "hours_edit"

    def test_edits_outside_the_limits_or_by_another_volunteer_are_refused(self) -> None:
        d = one_volunteer_district("v-a", "v-b")
        request = self.resolved(d, minutes=40)
        now = T0 + timedelta(hours=3)
        assert service_record.check_hours_edit(request, "v-b", 60, now) is not None
        assert "between 1 and 200" in str(service_record.check_hours_edit(request, "v-a", 500, now))
        assert service_record.check_hours_edit(request, "v-a", 60, T0 + timedelta(days=40)) is not None
        assert service_record.check_hours_edit(request, "v-a", 60, now) is None
        send(d, request, c.EditServiceHoursV1(actor=by("v-b"), volunteer_id="v-b", minutes=60, reason="x"))
        assert request.hours_edits == []
        assert request.timeline[-1]["type"] == "request.command_rejected"

    def test_a_request_never_resolved_writes_no_record(self) -> None:
        d = one_volunteer_district("v-a")
        request = submit(d)
        assert service_record.updates([request], SHANGHAI) == []


class TestLeave:
    def test_a_volunteer_on_leave_today_is_not_offered_and_is_again_after(self) -> None:
        today = T0.astimezone(SHANGHAI).date()
        d = district()
        d.volunteer_changed(volunteer("v-a", leave=[{"start": str(today), "end": str(today + timedelta(days=2))}]), T0)
        request = submit(d)
        assert request.state.offered_to == frozenset()
        excluded = request.decisions[-1]
        assert ExclusionCode.ON_LEAVE.value in str(excluded)
        assert d.roster.get("v-a") is not None and d.roster.get("v-a").on_leave(date(2014, 6, 5))  # type: ignore[union-attr]
        assert not d.roster.get("v-a").on_leave(date(2014, 6, 6))  # type: ignore[union-attr]


def test_leave_restored_from_the_stored_profile_reads_iso_dates() -> None:
    stored = {"_id": "v-a", "grid_id": "g1", "leave": [{"start": "2014-06-03", "end": "2014-06-04"}]}
    restored = volunteer_of(D, stored)
    assert restored.leave == ((date(2014, 6, 3), date(2014, 6, 4)),)
    assert restored.on_leave(date(2014, 6, 4)) and not restored.on_leave(date(2014, 6, 5))
