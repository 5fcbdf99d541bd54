"""Scheduled care in the district's owner: each plan's next occurrence in memory, and the care state of requests.

`CareSchedule` keeps every plan of the district, how far each has been carried out (its cursor, stored by
dispatch in `care_schedule`), and a heap of what falls due: a plan's next occurrence, and the end of a
check-in's window. Nothing is polled: the owner's loop wakes for the earliest entry.

Care work (an occurrence, a welfare check after a missed check-in, a need found on a visit) is created
with a request id derived from what it is for, and only after a read of that `_id` found nothing
(`open_care_work`): the id is the guard across restarts and rebalances. A request whose care work is still
to be created stays live (so a restore finds it and derives the work again) until that work is written;
only then is it closed (`settle`).

The care state of a request (its `care` field) is changed here by pure functions; the district applies them.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import TYPE_CHECKING, Any, Final, Literal

from services.dispatch.domain.care import (
    WELFARE_CHECK_CODE,
    CarePlan,
    Occurrence,
    PlanProblem,
    next_occurrence,
    welfare_check_id,
)
from services.dispatch.domain.matching import Place
from services.dispatch.handlers import Deciding, handles, refuse
from services.dispatch.reference import Keys, ReferenceCache
from services.dispatch.request import Request
from shared.contracts import commands as c
from shared.mongo import Document

if TYPE_CHECKING:
    from services.dispatch.district import District
    from services.dispatch.store import DispatchStore

log = logging.getLogger(__name__)

WorkKind = Literal["occurrence", "welfare", "need"]
# Care log entries kept per request (a visit, a confirmation, a miss): a handful per occurrence.
LOG_KEPT: Final = 50


@dataclass(frozen=True)
class Cursor:
    """How far a plan has been carried out: the local date of the last occurrence created, and since when it
    applies (its first announcement), so that a new plan does not create occurrences of before it existed."""

    done_through: date | None
    not_before: datetime

    def stored(self, plan_id: str, district_id: str) -> Document:
        return {
            "_id": plan_id,
            "district_id": district_id,
            "done_through": self.done_through.isoformat() if self.done_through else None,
            "not_before": self.not_before,
        }

    @classmethod
    def of(cls, document: Mapping[str, Any], default_since: datetime) -> Cursor:
        done, since = document.get("done_through"), document.get("not_before")
        if not isinstance(since, datetime):
            since = default_since
        elif since.tzinfo is None:  # a database that hands back naive UTC
            since = since.replace(tzinfo=UTC)
        return cls(date.fromisoformat(done) if done else None, since)


@dataclass(frozen=True)
class CareWork:
    """A care request to create once: its derived id, what it is for, and where it is matched."""

    request_id: str
    kind: WorkKind
    plan_id: str
    resident_id: str
    grid_id: str
    menu_item_code: str
    text: str = ""
    occurrence: Occurrence | None = None
    source_request_id: str | None = None


class CareSchedule:
    def __init__(self, district_id: str, tz: tzinfo) -> None:
        self.district_id = district_id
        self.tz = tz
        self.plans: dict[str, CarePlan] = {}
        self.cursors: dict[str, Cursor] = {}
        self.next: dict[str, Occurrence] = {}
        self._heap: list[tuple[datetime, int, str, str]] = []
        self._counter = itertools.count()
        self._watched: set[str] = set()
        self.changed_cursors: set[str] = set()

    # -- plans ---------------------------------------------------------------------------------
    def restore(self, plans: Iterable[Document], cursors: Iterable[Document], now: datetime) -> list[str]:
        """Plans and cursors as read at assignment; returns the ids of plans that cannot be scheduled."""
        stored = {d["_id"]: d for d in cursors}
        unusable = []
        for document in plans:
            try:
                plan = CarePlan.of(document)
            except PlanProblem:
                unusable.append(str(document.get("_id")))
                continue
            if plan.plan_id in stored:
                self.cursors[plan.plan_id] = Cursor.of(stored[plan.plan_id], now)
            self.put(plan, since=now)
        return unusable

    def put(self, plan: CarePlan, *, since: datetime) -> None:
        """A plan added or edited: its next occurrence is re-timed from how far it has been carried out."""
        self.plans[plan.plan_id] = plan
        if plan.plan_id not in self.cursors:
            self.cursors[plan.plan_id] = Cursor(None, since)
            self.changed_cursors.add(plan.plan_id)
        self._schedule(plan.plan_id, since)

    def remove(self, plan_id: str) -> None:
        """No further occurrences; the cursor is kept, so the same plan put back does not repeat a date."""
        self.plans.pop(plan_id, None)
        self.next.pop(plan_id, None)

    def created(self, occurrence: Occurrence, now: datetime) -> None:
        """The occurrence's request exists (created now, or found): the plan moves on to its next date."""
        cursor = self.cursors.get(occurrence.plan_id) or Cursor(None, now)
        if cursor.done_through is None or occurrence.day > cursor.done_through:
            self.cursors[occurrence.plan_id] = Cursor(occurrence.day, cursor.not_before)
            self.changed_cursors.add(occurrence.plan_id)
        self._schedule(occurrence.plan_id, now)

    def _schedule(self, plan_id: str, now: datetime) -> None:
        plan, cursor = self.plans.get(plan_id), self.cursors.get(plan_id)
        following = None
        if plan is not None and cursor is not None:
            following = next_occurrence(
                plan, self.tz, done_through=cursor.done_through, not_before=cursor.not_before, now=now
            )
        if following is None:
            self.next.pop(plan_id, None)
            return
        self.next[plan_id] = following
        heapq.heappush(self._heap, (following.starts_at, next(self._counter), "occurrence", plan_id))

    # -- check-in windows ----------------------------------------------------------------------
    def watch(self, request_id: str, ends_at: datetime) -> None:
        """Fire when a check-in's window ends, unless it was confirmed by then."""
        if request_id not in self._watched:
            self._watched.add(request_id)
            heapq.heappush(self._heap, (ends_at, next(self._counter), "window", request_id))

    # -- what is due ---------------------------------------------------------------------------
    def due(self, now: datetime) -> tuple[list[Occurrence], list[str]]:
        """Occurrences that start by `now`, and check-ins whose window ended by `now`."""
        occurrences: list[Occurrence] = []
        windows: list[str] = []
        while self._heap and self._heap[0][0] <= now:
            due_at, _, kind, key = heapq.heappop(self._heap)
            if kind == "window":
                self._watched.discard(key)
                windows.append(key)
                continue
            current = self.next.get(key)
            if current is not None and current.starts_at == due_at:  # an entry of an edited plan is stale
                del self.next[key]
                occurrences.append(current)
        return occurrences, windows

    def next_due_at(self) -> datetime | None:
        return self._heap[0][0] if self._heap else None

    def take_cursors(self) -> list[Document]:
        changed, self.changed_cursors = self.changed_cursors, set()
        return [self.cursors[p].stored(p, self.district_id) for p in sorted(changed) if p in self.cursors]


# -- the care state of a request ----------------------------------------------------------------------


def occurrence_care(plan: CarePlan, occurrence: Occurrence, alert: list[Document], now: datetime) -> Document:
    return {
        "plan_id": plan.plan_id,
        "kind": plan.kind,
        "resident_id": plan.resident_id,
        "day": occurrence.day.isoformat(),
        "window_start": occurrence.starts_at,
        "window_end": occurrence.ends_at,
        "confirms": plan.confirms,
        "late": occurrence.ends_at <= now,
        "confirmed_at": None,
        "confirmed_by": None,
        "missed_at": None,
        "missed_reason": None,
        "welfare_request_id": None,
        "alert": alert,
        "log": [],
    }


def contacts(plan: CarePlan, resident: Document | None) -> list[Document]:
    """Whom a welfare check alerts: the plan's contacts, then the household's proxy and linked heart."""
    found = [contact.stored() for contact in plan.alert]
    proxy = (resident or {}).get("proxy")
    if isinstance(proxy, Mapping) and proxy.get("phone"):
        found.append(
            {"role": str(proxy.get("kind") or "proxy"), "name": str(proxy.get("name") or ""), "phone": proxy["phone"]}
        )
    linked = plan.volunteer_id or (resident or {}).get("linked_volunteer_id")
    if linked and not any(c.get("volunteer_id") == linked for c in found):
        found.append({"role": "linked_heart", "volunteer_id": linked})
    return found


def add_to_log(request: Request, entry: Document) -> None:
    assert request.care is not None
    request.care["log"] = [*request.care.get("log", []), entry][-LOG_KEPT:]
    request.changed = True


def awaits_confirmation(request: Request) -> bool:
    care = request.care or {}
    return bool(care.get("confirms")) and not care.get("confirmed_at") and not care.get("missed_at")


def confirm(request: Request, *, by: str, at: datetime, how: str) -> None:
    assert request.care is not None
    if request.care.get("confirmed_at") is None:
        request.care["confirmed_at"], request.care["confirmed_by"] = at, by
        request.care["on_time"] = at <= request.care["window_end"] if request.care.get("window_end") else True
        add_to_log(request, {"at": at, "by": by, "entry": "confirmed", "how": how})


def miss(request: Request, *, at: datetime, reason: str, by: str) -> None:
    """Not confirmed in its window (or nobody answered the volunteer): a welfare check is to be opened."""
    assert request.care is not None
    if request.care.get("missed_at") is None and request.care.get("confirmed_at") is None:
        request.care["missed_at"], request.care["missed_reason"] = at, reason
        add_to_log(request, {"at": at, "by": by, "entry": "missed", "reason": reason})


def pending_work(request: Request) -> list[CareWork]:
    """The care requests this one still has to have created: a welfare check after a miss, needs filed."""
    care = request.care
    if not care or not care.get("plan_id"):
        return []
    work: list[CareWork] = []
    base = {"plan_id": care["plan_id"], "resident_id": care["resident_id"], "grid_id": request.place.grid_id}
    if care.get("missed_at") and not care.get("welfare_request_id"):
        text = (
            f"welfare check: {care.get('kind', 'check_in')} of {care.get('day')} missed ({care.get('missed_reason')})"
        )
        work.append(
            CareWork(
                welfare_check_id(request.id),
                "welfare",
                menu_item_code="",
                text=text,
                source_request_id=request.id,
                **base,
            )
        )
    for index, entry in enumerate(care.get("log", [])):
        need = entry.get("need")
        if need and not entry.get("filed_request_id"):
            work.append(
                CareWork(
                    f"{request.id}:need:{index}",
                    "need",
                    menu_item_code=need["menu_item_code"],
                    text=need.get("text", ""),
                    source_request_id=request.id,
                    **base,
                )
            )
    return work


def link(request: Request, work: CareWork) -> None:
    """Record on the request that its care work exists (written with it, read back before it closes)."""
    assert request.care is not None
    if work.kind == "welfare":
        request.care["welfare_request_id"] = work.request_id
    elif work.kind == "need":
        index = int(work.request_id.rsplit(":", 1)[1])
        entries = request.care.get("log", [])
        if index < len(entries):
            entries[index] = {**entries[index], "filed_request_id": work.request_id}
    request.changed = True


def linked(request: Request) -> list[str]:
    care = request.care or {}
    found = [care["welfare_request_id"]] if care.get("welfare_request_id") else []
    return found + [e["filed_request_id"] for e in care.get("log", []) if e.get("filed_request_id")]


def unlink(request: Request, missing: list[str]) -> None:
    """Work recorded as created but not in the database (a crash between two writes): created again."""
    assert request.care is not None
    if request.care.get("welfare_request_id") in missing:
        request.care["welfare_request_id"] = None
    request.care["log"] = [
        {**e, "filed_request_id": None} if e.get("filed_request_id") in missing else e
        for e in request.care.get("log", [])
    ]
    request.changed = True


def settled(request: Request) -> bool:
    """Every piece of care work it called for exists: it may close."""
    care = request.care or {}
    return bool(care.get("settle")) and not pending_work(request)


# -- commands ---------------------------------------------------------------------------------------


@handles(c.ConfirmCheckInV1)
def confirm_check_in(request: Request, command: c.ConfirmCheckInV1, ctx: Deciding) -> None:
    if not (request.care or {}).get("confirms"):
        refuse(request, command, ctx, "this request is not a scheduled check-in")
        return
    confirm(request, by=command.actor.label(), at=ctx.now, how=command.note or "confirmed")
    request.care = {**(request.care or {}), "settle": True}


@handles(c.RecordVisitOutcomeV1)
def record_visit(request: Request, command: c.RecordVisitOutcomeV1, ctx: Deciding) -> None:
    if not (request.care or {}).get("plan_id"):
        refuse(request, command, ctx, "this request is not scheduled care", volunteer_id=command.volunteer_id)
        return
    if request.holder != command.volunteer_id:
        refuse(
            request,
            command,
            ctx,
            "only the volunteer who holds this visit may record it",
            volunteer_id=command.volunteer_id,
        )
        return
    if (request.care or {}).get("settle"):
        refuse(
            request, command, ctx, "an outcome is already recorded for this visit", volunteer_id=command.volunteer_id
        )
        return
    by = command.actor.label()
    entry: Document = {
        "at": ctx.now,
        "by": by,
        "entry": "visit",
        "volunteer_id": command.volunteer_id,
        "outcome": command.outcome,
        "note": command.note,
    }
    if command.need is not None:
        entry["need"] = command.need.model_dump()
    add_to_log(request, entry)
    if command.outcome == "no_response":
        miss(request, at=ctx.now, reason="no_response", by=by)
    elif request.care is not None and request.care.get("confirms"):
        confirm(request, by=by, at=ctx.now, how=f"visit: {command.outcome}")
    assert request.care is not None
    request.care["settle"] = True


# -- creating care work, guarded by its id ------------------------------------------------------------


async def open_care_work(district: District, store: DispatchStore, reference: ReferenceCache, now: datetime) -> int:
    """Close care requests whose work is written, then create the district's due care work: each id read
    first and created only when the database has none. Returns how many requests were created."""
    for request_id, ids in district.settle_candidates():
        missing = [i for i in ids if i not in district.requests and await store.request(i) is None]
        district.settle(request_id, missing, now)
    created = 0
    d = district.district_id
    for work in district.due_care_work(now):
        existing = None if work.request_id in district.requests else await store.request(work.request_id)
        resident = await store.reference(("residents", d, work.resident_id)) if existing is None else None
        grid = Keys.grid(d, work.grid_id)
        await reference.ensure([grid])
        community = (reference.get(grid) or {}).get("community_id") or ""
        street = (reference.get(grid) or {}).get("street_office_id") or ""
        codes = {work.menu_item_code, WELFARE_CHECK_CODE} - {""}
        place = Place(d, street, community, work.grid_id)
        await reference.ensure([*(Keys.menu_item(d, community, code) for code in codes), *Keys.responsible(place)])
        opened = district.open_care(work, existing, resident, now)
        log.info("care %s %s: %s", work.kind, work.request_id, "created" if opened else "exists already")
        created += opened
    return created


def care_log_documents(requests: Iterable[Request]) -> list[Document]:
    """The household's care log (走访记录) from the changed care requests: one document per entry, by `_id`
    (replaced, so writing an entry again changes nothing), read per resident by one equality."""
    documents = []
    for request in requests:
        care = request.care or {}
        if not care.get("plan_id"):
            continue
        for index, entry in enumerate(care.get("log", [])):
            documents.append(
                {
                    **entry,
                    "_id": f"{request.id}:{index}",
                    "district_id": request.district_id,
                    "resident_id": care["resident_id"],
                    "plan_id": care["plan_id"],
                    "kind": care.get("kind"),
                    "day": care.get("day"),
                    "request_id": request.id,
                    "grid_id": request.place.grid_id,
                }
            )
    return documents
