"""One district as its owner holds it: live requests, the roster with its load, and the timers, in memory.

Every message of the district (submission, command, roster change) and every due timer is applied here,
synchronously; what changed is collected for the owner to write in one batch (`take_changes`). A
message that fails half-way leaves the request as it was before it. Load is derived here and only here:
whoever a request holds (assigned or in progress) takes one of that volunteer's slots.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, tzinfo
from typing import Final

from services.dispatch import care, handlers
from services.dispatch.care import CareSchedule, CareWork
from services.dispatch.domain.care import WELFARE_CHECK_CODE, CarePlan
from services.dispatch.domain.matching import ALWAYS_AVAILABLE, Coordinates, Place, Volunteer, WeeklyWindow
from services.dispatch.domain.roster import Roster
from services.dispatch.domain.states import REQUEST_NOTE_ADDED, Cancel, Expire, RequestStatus, Resolve, Timer, notice
from services.dispatch.handlers import Deciding, Rules
from services.dispatch.reference import ReferenceCache
from services.dispatch.request import SYSTEM, MenuTerms, Request
from shared.contracts import (
    REQUEST_SUBMITTED,
    Actor,
    EventEnvelope,
    RequestSubmitted,
    RequestSubmittedV2,
    VolunteerChangedV1,
    VolunteerRemovedV1,
    new_event,
)
from shared.contracts.care import CarePlanChangedV1, CarePlanRemovedV1
from shared.contracts.commands import Command
from shared.contracts.status import CARE_CHECK_IN_DUE
from shared.mongo import Document

log = logging.getLogger(__name__)

# Waiting requests looked at per freed volunteer or roster change: the oldest, highest-priority first.
REMATCH_BATCH: Final = 500
# Closed requests remembered after they leave memory, so a submission retried by intake stays one request.
RECENTLY_CLOSED_KEPT: Final = 10_000


class CannotApply(RuntimeError):
    """A message that broke a rule's code: answered with a visible refusal, then dead-lettered for a person."""


@dataclass
class Changes:
    """What a batch changed: requests to write (with their outboxes) and volunteers whose load moved."""

    requests: dict[str, Request] = field(default_factory=dict)
    loads: dict[str, Volunteer] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.requests or self.loads)


def volunteer_of(district_id: str, profile: VolunteerChangedV1 | Document) -> Volunteer:
    """A roster entry from the admin's event, or from the volunteer document it announced."""
    data = profile.model_dump() if isinstance(profile, VolunteerChangedV1) else profile
    windows = tuple(
        WeeklyWindow(int(w["weekday"]), time.fromisoformat(w["start"]), time.fromisoformat(w["end"]))
        for w in data.get("availability") or []
    )
    location = data.get("location")
    return Volunteer(
        volunteer_id=data.get("volunteer_id") or data["_id"],
        home=Place(district_id, data.get("street_office_id") or "", data.get("community_id") or "", data["grid_id"]),
        skills=frozenset(data.get("skills") or []),
        languages=frozenset(data.get("languages") or []),
        windows=windows or ALWAYS_AVAILABLE,  # no availability given means always available
        capacity=int(data.get("capacity", 1)),
        active=bool(data.get("active", True)),
        on_duty=bool(data.get("on_duty", True)),
        location=Coordinates(float(location["lat"]), float(location["lon"])) if location else None,
        leave=tuple((_day(period["start"]), _day(period["end"])) for period in data.get("leave") or [] if period),
    )


def _day(value: date | datetime | str) -> date:
    """A leave day as the event (a date), the stored document (a datetime: BSON has no date) or JSON gives it."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(value[:10])


class District:
    def __init__(
        self, district_id: str, *, reference: ReferenceCache, rules: Rules, tz: tzinfo, roster: Roster | None = None
    ) -> None:
        self.district_id = district_id
        self.reference = reference
        self.rules = rules
        self.tz = tz
        self.roster = roster or Roster()
        self.requests: dict[str, Request] = {}
        self._timers: list[tuple[datetime, int, str, Timer]] = []
        self._scheduled: set[tuple[str, Timer]] = set()
        self._counter = itertools.count()
        self._changes = Changes()
        self._recently_closed: OrderedDict[str, None] = OrderedDict()
        self.care = CareSchedule(district_id, tz)
        # Care requests whose care work (a welfare check, a need) is to be created, or that may then close.
        self._to_settle: set[str] = set()

    # -- restoring -----------------------------------------------------------------------------
    def adopt(self, request: Request) -> None:
        """Hold a request read from the database (restored at assignment, or loaded for a command).

        An outbox found in it was written but maybe never published (a crash in between): it is published
        again with the next batch; consumers de-duplicate by event id.
        """
        self.requests[request.id] = request
        self._schedule(request)
        if request.outbox:
            request.changed = True
            self._changes.requests[request.id] = request

    # -- applying ------------------------------------------------------------------------------
    def deciding(self, now: datetime) -> Deciding:
        return Deciding(self.roster, self.reference, self.rules, self.tz, now)

    def submit(self, envelope: EventEnvelope, data: RequestSubmitted, now: datetime) -> Request | None:
        if envelope.request in self.requests or envelope.request in self._recently_closed:
            return None  # a redelivery, or intake's retry of the same submission: the request exists
        try:
            request = handlers.submit(envelope, data, self.deciding(now))
        except Exception as exc:
            request = handlers.refuse_submission(
                envelope, data, self.deciding(now), f"cannot be dispatched ({type(exc).__name__})"
            )
            self.requests[request.id] = request
            self._after(request, None, now)
            raise CannotApply(f"submission {envelope.id}: {exc!r}") from exc
        self.requests[request.id] = request
        self._after(request, None, now)
        return request

    def command(self, envelope: EventEnvelope, command: Command, now: datetime) -> Request | None:
        """Apply a command to a request this district holds; None when it is unknown (never submitted here)."""
        request = self.requests.get(envelope.request)
        if request is None:
            return None
        if request.has_processed(envelope.id):
            return request
        before = request.snapshot()
        try:
            handlers.handle_command(request, command, self.deciding(now))
        except Exception as exc:
            # Never only a dead letter: the resident and the operator see the command refused, and why.
            request.restore(before)
            request.reject(
                command.command_type,
                by=command.actor.label(),
                problem=f"dispatch could not apply this command ({type(exc).__name__}); operators are alerted",
                at=now,
            )
            request.processed_event(envelope.id)
            self._after(request, before.holder, now)
            raise CannotApply(f"{command.command_type} {envelope.id}: {exc!r}") from exc
        request.processed_event(envelope.id)
        self._after(request, before.holder, now)
        return request

    def volunteer_changed(self, data: VolunteerChangedV1, now: datetime) -> None:
        self.roster.put(volunteer_of(self.district_id, data))
        self._rematch_waiting(now)

    def volunteer_removed(self, data: VolunteerRemovedV1) -> None:
        self.roster.remove(data.volunteer_id)

    def fire_due_timers(self, now: datetime) -> int:
        """Fire every timer due by `now`; one cancelled since it was scheduled fires as a no-op."""
        fired = 0
        while self._timers and self._timers[0][0] <= now:
            _, _, request_id, timer = heapq.heappop(self._timers)
            self._scheduled.discard((request_id, timer))
            request = self.requests.get(request_id)
            if request is None or not request.finish_offer_timer(timer):
                continue
            before = request.snapshot()
            try:
                handlers.fire_timer(request, timer, self.deciding(now))
            except Exception:
                log.exception("timer %s of request %s failed; dropped", timer.kind.value, request_id)
                request.restore(before)
                request.finish_offer_timer(timer)
            request.changed = True  # the fired timer leaves the stored list even when nothing else moved
            self._after(request, before.holder, now)
            fired += 1
        return fired

    def next_timer_at(self) -> datetime | None:
        due = [d for d in (self._timers[0][0] if self._timers else None, self.care.next_due_at()) if d is not None]
        return min(due, default=None)

    # -- scheduled care ------------------------------------------------------------------------
    def restore_care(self, plans: Iterable[Document], cursors: Iterable[Document], now: datetime) -> list[str]:
        """Plans and cursors read at assignment; the live care requests' windows and pending work again."""
        unusable = self.care.restore(plans, cursors, now)
        for request in self.requests.values():
            self._care_after(request, request.holder, now)
        return unusable

    def plan_changed(self, data: CarePlanChangedV1, at: datetime) -> None:
        self.care.put(CarePlan.of({**data.model_dump(mode="json"), "district_id": self.district_id}), since=at)

    def plan_removed(self, data: CarePlanRemovedV1) -> None:
        self.care.remove(data.plan_id)

    def due_care_work(self, now: datetime) -> list[CareWork]:
        """Care work to create now (each then read by `_id` and created only if absent): occurrences due, and
        the welfare checks and needs that requests call for. Check-ins whose window ended are missed here."""
        occurrences, windows = self.care.due(now)
        for request_id in windows:
            request = self.requests.get(request_id)
            if request is not None and request.live and care.awaits_confirmation(request):
                before = request.snapshot()
                care.miss(request, at=now, reason="no_answer", by=SYSTEM)
                assert request.care is not None
                request.care["settle"] = True
                self._after(request, before.holder, now)
        work = []
        for occurrence in occurrences:
            plan = self.care.plans.get(occurrence.plan_id)
            if plan is not None:
                work.append(
                    CareWork(
                        occurrence.request_id,
                        "occurrence",
                        plan.plan_id,
                        plan.resident_id,
                        plan.grid_id,
                        plan.menu_code,
                        text=plan.note or plan.kind.replace("_", " "),
                        occurrence=occurrence,
                    )
                )
        for request_id in sorted(self._to_settle):
            request = self.requests.get(request_id)
            if request is not None:
                work.extend(care.pending_work(request))
        return work

    def settle_candidates(self) -> list[tuple[str, list[str]]]:
        """Care requests whose work has all been created: (id, the ids of that work, to read back first)."""
        found = []
        for request_id in sorted(self._to_settle):
            request = self.requests.get(request_id)
            if request is None:
                self._to_settle.discard(request_id)
            elif care.settled(request):
                found.append((request_id, care.linked(request)))
        return found

    def settle(self, request_id: str, missing: list[str], now: datetime) -> None:
        """Close a care request once its work is in the database; work not found there is created again."""
        request = self.requests.get(request_id)
        if request is None or request.care is None:
            return
        before = request.snapshot()
        if missing:
            care.unlink(request, missing)
        else:
            self._close_care(request, now)
            self._to_settle.discard(request_id)
        self._after(request, before.holder, now)

    def open_care(self, work: CareWork, existing: Document | None, resident: Document | None, now: datetime) -> int:
        """Create one piece of care work unless it exists (in memory, or `existing` as read by `_id`); 1 if created."""
        request = self.requests.get(work.request_id)
        if request is None and existing is not None and existing.get("district_id") == self.district_id:
            request = Request.from_document(existing)
            if request.live:
                self.adopt(request)
                self._care_after(request, request.holder, now)
        created = 0
        if request is None and work.request_id not in self._recently_closed:
            request = self._create_care(work, resident, now)
            if request is None:
                return 0
            created = 1
        self._link(work, now)
        return created

    def _create_care(self, work: CareWork, resident: Document | None, now: datetime) -> Request | None:
        plan = self.care.plans.get(work.plan_id)
        source = self.requests.get(work.source_request_id or "")
        if work.kind == "occurrence" and (plan is None or work.occurrence is None):
            return None  # removed since it fell due
        household = resident or {}
        proxy = household.get("proxy") if isinstance(household.get("proxy"), dict) else {}
        welfare = work.kind == "welfare"
        code = WELFARE_CHECK_CODE if welfare else work.menu_item_code
        # V2: a household without a phone of its own is reached through its proxy, or not by phone at all.
        data = RequestSubmittedV2(
            menu_item_code=code,
            grid_id=work.grid_id,
            resident_name=str(household.get("name") or f"resident {work.resident_id}")[:100],
            resident_phone=household.get("phone") or (proxy or {}).get("phone") or None,
            text=work.text[:2000],
            resident_id=work.resident_id,
            resident_language=household.get("language"),
            linked_heart_volunteer_id=(plan.volunteer_id if plan else None) or household.get("linked_volunteer_id"),
            priority="critical" if welfare else None,
            submitted_by=Actor(role="system", subject="dispatch:care"),
        )
        envelope = new_event(
            event_type=REQUEST_SUBMITTED,
            source="dispatch",
            district_id=self.district_id,
            request_id=work.request_id,
            event_id=f"{work.request_id}:submitted",
            time=now,
            data=data,
            schema_version=2,
        )
        default = None if work.kind == "need" else MenuTerms(code=code, urgency="critical" if welfare else "normal")
        request = handlers.submit(envelope, data, self.deciding(now), default_menu=default)
        alert = care.contacts(plan, resident) if plan else []
        if work.kind == "occurrence" and plan is not None and work.occurrence is not None:
            request.care = care.occurrence_care(plan, work.occurrence, alert, now)
            if plan.confirms and work.occurrence.ends_at > now:
                # Notify texts the resident (or their proxy) a prompt: a reply "1" confirms the check-in.
                window = {
                    "window_start": work.occurrence.starts_at.isoformat(),
                    "window_end": work.occurrence.ends_at.isoformat(),
                }
                request.emit([notice(request.state, CARE_CHECK_IN_DUE, at=now, by=SYSTEM)], detail=window)
        else:
            source_care = (source.care if source else None) or {}
            request.care = {
                "kind": work.kind,
                "for_request_id": work.source_request_id,
                "plan_id": None,
                "care_plan_id": work.plan_id,
                "resident_id": work.resident_id,
                "day": source_care.get("day"),
                "missed_at": source_care.get("missed_at"),
                "alert": source_care.get("alert") or alert,
                "log": [],
            }
        if welfare:
            names = ", ".join(
                f"{c.get('role')} {c.get('name') or c.get('volunteer_id') or ''}".strip() for c in request.care["alert"]
            )
            request.emit(
                [notice(request.state, REQUEST_NOTE_ADDED, at=now, by=SYSTEM)],
                message=f"welfare check after a missed check-in; alert: {names or 'nobody named'}",
                detail={"alert": request.care["alert"], "check_in_request_id": work.source_request_id},
            )
        self.requests[request.id] = request
        self._after(request, None, now)
        return request

    def _link(self, work: CareWork, now: datetime) -> None:
        if work.kind == "occurrence" and work.occurrence is not None:
            self.care.created(work.occurrence, now)
            return
        source = self.requests.get(work.source_request_id or "")
        if source is None or source.care is None:
            return
        before = source.snapshot()
        care.link(source, work)
        self._after(source, before.holder, now)

    def _close_care(self, request: Request, now: datetime) -> None:
        """A confirmed or missed occurrence, its work created: resolved for its volunteer, or closed."""
        assert request.care is not None
        request.care["settle"] = False
        if not request.live:
            return
        holder, confirmed = request.holder, request.care.get("confirmed_at") is not None
        reason = "confirmed" if confirmed else f"missed ({request.care.get('missed_reason')}); welfare check opened"
        # A check-in's closing is nothing to tell the resident (no "cancelled", no rating of a phone call);
        # a visit or an errand done is rated like any request.
        quiet = {"tell_resident": False}
        if holder is not None:
            visited = any(e.get("volunteer_id") == holder for e in request.care.get("log", []))
            if visited or confirmed:
                resolve = Resolve(volunteer_id=holder if visited else None, by=SYSTEM, reason=reason)
                if request.run(resolve, now, detail=quiet if request.care.get("confirms") else None):
                    request.resolved_at = now
            return  # missed while a volunteer holds it: theirs to report on
        if confirmed:
            request.run(Cancel(by=SYSTEM, reason="the resident confirmed they are fine"), now, detail=quiet)
        else:
            request.run(Expire(by=SYSTEM, reason=reason), now, detail=quiet)

    def _care_after(self, request: Request, previous_holder: str | None, now: datetime) -> None:
        if request.care is None or not request.care.get("plan_id"):
            return
        if (
            request.status is RequestStatus.RESOLVED
            and previous_holder is not None
            and care.awaits_confirmation(request)
        ):
            care.confirm(request, by=f"volunteer:{previous_holder}", at=now, how="work completed")
        if request.live and care.awaits_confirmation(request) and request.care.get("window_end"):
            self.care.watch(request.id, request.care["window_end"])
        if care.pending_work(request) or request.care.get("settle"):
            self._to_settle.add(request.id)

    def rematch_waiting(self, now: datetime) -> None:
        """Waiting requests again (availability windows open, volunteers come back on duty)."""
        self._rematch_waiting(now)

    # -- collecting ----------------------------------------------------------------------------
    def take_changes(self) -> Changes:
        changes, self._changes = self._changes, Changes()
        return changes

    def forget_closed(self) -> None:
        """Closed requests are written and need no timers: read them back by `_id` if a command comes."""
        for request_id in [
            r.id for r in self.requests.values() if not r.live and not r.changed and r.id not in self._to_settle
        ]:
            del self.requests[request_id]
            self._recently_closed[request_id] = None
        while len(self._recently_closed) > RECENTLY_CLOSED_KEPT:
            self._recently_closed.popitem(last=False)

    def _after(self, request: Request, previous_holder: str | None, now: datetime) -> None:
        self._care_after(request, previous_holder, now)
        request.close_if_done()
        if request.changed:
            request.updated_at = now
            self._changes.requests[request.id] = request
        holder = request.holder
        if holder != previous_holder:
            if previous_holder:
                self.roster.released(previous_holder)
                self._changed_load(previous_holder)
            if holder:
                self.roster.assigned(holder, now)
                self._changed_load(holder)
        self._schedule(request)
        if previous_holder and previous_holder != holder:
            self._rematch_waiting(now, freed=previous_holder)

    def _changed_load(self, volunteer_id: str) -> None:
        volunteer = self.roster.get(volunteer_id)
        if volunteer is not None:
            self._changes.loads[volunteer_id] = volunteer

    def _schedule(self, request: Request) -> None:
        for timer in request.timers:
            if (request.id, timer) not in self._scheduled:
                self._scheduled.add((request.id, timer))
                heapq.heappush(self._timers, (timer.due_at, next(self._counter), request.id, timer))

    def _rematch_waiting(self, now: datetime, *, freed: str | None = None) -> None:
        volunteer = self.roster.get(freed) if freed else None
        waiting = sorted((r for r in self.requests.values() if r.waiting), key=Request.queue_order)
        for request in waiting[:REMATCH_BATCH]:
            if volunteer is not None and (
                volunteer.spare <= 0 or not volunteer.home.within(request.place, request.state.level)
            ):
                continue  # the freed volunteer cannot take this one: nothing to try
            before = request.snapshot()
            try:
                moved = handlers.rematch(request, self.deciding(now))
            except Exception:
                log.exception("re-match of request %s failed", request.id)
                request.restore(before)
                continue
            if moved:
                self._after(request, before.holder, now)


def restored_roster(
    district_id: str, volunteers: Iterable[Document], requests: Iterable[Request], loads: Iterable[Document]
) -> Roster:
    """The roster as the owner restores it: profiles from the admin's documents, load counted from the
    live requests themselves (the one source of it), last assignment from `volunteer_load`."""
    held: dict[str, int] = {}
    for request in requests:
        if request.holder:
            held[request.holder] = held.get(request.holder, 0) + 1
    last = {d["_id"]: d.get("last_assigned_at") for d in loads}
    return Roster.of(
        replace(
            volunteer_of(district_id, document),
            open_assignments=held.get(document["_id"], 0),
            last_assigned_at=last.get(document["_id"]),
        )
        for document in volunteers
    )
