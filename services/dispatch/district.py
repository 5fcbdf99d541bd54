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

from services.dispatch import handlers
from services.dispatch.domain.matching import ALWAYS_AVAILABLE, Coordinates, Place, Volunteer, WeeklyWindow
from services.dispatch.domain.roster import Roster
from services.dispatch.domain.states import Timer
from services.dispatch.handlers import Deciding, Rules
from services.dispatch.reference import ReferenceCache
from services.dispatch.request import Request
from shared.contracts import EventEnvelope, RequestSubmitted, VolunteerChangedV1, VolunteerRemovedV1
from shared.contracts.commands import Command
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
        return self._timers[0][0] if self._timers else None

    def rematch_waiting(self, now: datetime) -> None:
        """Waiting requests again (availability windows open, volunteers come back on duty)."""
        self._rematch_waiting(now)

    # -- collecting ----------------------------------------------------------------------------
    def take_changes(self) -> Changes:
        changes, self._changes = self._changes, Changes()
        return changes

    def forget_closed(self) -> None:
        """Closed requests are written and need no timers: read them back by `_id` if a command comes."""
        for request_id in [r.id for r in self.requests.values() if not r.live and not r.changed]:
            del self.requests[request_id]
            self._recently_closed[request_id] = None
        while len(self._recently_closed) > RECENTLY_CLOSED_KEPT:
            self._recently_closed.popitem(last=False)

    def _after(self, request: Request, previous_holder: str | None, now: datetime) -> None:
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
