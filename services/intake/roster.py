"""Roster announcements: after the admin writes a volunteer, the dispatch replica owning the district hears of it.

Events go to the requests topic keyed by the district, like the district's submissions and commands, so the
owner applies a roster change in order with them and never reads `volunteers` again to stay current.
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from shared.contracts import VOLUNTEER_CHANGED, VOLUNTEER_REMOVED, VolunteerChangedV1, VolunteerRemovedV1, new_event
from shared.contracts.care import CARE_PLAN_CHANGED, CARE_PLAN_REMOVED, CarePlanChangedV1, CarePlanRemovedV1
from shared.contracts.envelope import EventEnvelope
from shared.kafka import EventPublisher
from shared.mongo import Document

# Measured on this machine kind (shared/DESIGN.md): one awaited send at a time ~250/s, 256 in flight ~10k/s.
BULK_WINDOW = 256


def volunteer_changed(document: Document) -> VolunteerChangedV1:
    """The event's payload from a stored volunteer: its matching profile, derived ids included, no personal data."""
    fields = {
        name: document[name]
        for name in VolunteerChangedV1.model_fields
        if name != "volunteer_id" and document.get(name) is not None
    }
    return VolunteerChangedV1.model_validate({**fields, "volunteer_id": document["_id"]})


def care_plan_changed(document: Document) -> CarePlanChangedV1:
    """The event's payload from a stored care plan: the plan with its derived grid."""
    fields = {
        name: document[name]
        for name in CarePlanChangedV1.model_fields
        if name != "plan_id" and document.get(name) is not None
    }
    return CarePlanChangedV1.model_validate({**fields, "plan_id": document["_id"]})


class Roster:
    """Announces volunteer writes; returns (or, in bulk, flushes) only after the broker acknowledged.

    `window` is how many events are held before they are sent together: 1 for an API call, which answers
    only after the ack; `BULK_WINDOW` for imports, whose caller flushes at the end.
    """

    def __init__(self, publisher: EventPublisher, topic: str, *, source: str, window: int = 1) -> None:
        self._publisher, self._topic, self._source, self._window = publisher, topic, source, window
        self._held: dict[tuple[str, str], EventEnvelope] = {}
        self.announced = 0

    async def changed(self, document: Document) -> None:
        await self._hold(document["district_id"], document["_id"], VOLUNTEER_CHANGED, volunteer_changed(document))

    async def removed(self, district_id: str, volunteer_id: str) -> None:
        await self._hold(district_id, volunteer_id, VOLUNTEER_REMOVED, VolunteerRemovedV1(volunteer_id=volunteer_id))

    async def plan_changed(self, document: Document) -> None:
        """A care plan written: the owner of the district re-times its next occurrence."""
        await self._hold(
            document["district_id"], f"plan:{document['_id']}", CARE_PLAN_CHANGED, care_plan_changed(document)
        )

    async def plan_removed(self, district_id: str, plan_id: str) -> None:
        await self._hold(district_id, f"plan:{plan_id}", CARE_PLAN_REMOVED, CarePlanRemovedV1(plan_id=plan_id))

    async def _hold(self, district_id: str, subject: str, event_type: str, data: BaseModel) -> None:
        key = (district_id, subject)
        # Each event carries the whole profile (or plan), so a later write of the same one replaces the held
        # one: two events of one volunteer are then never in flight together, where their order is not ours to choose.
        self._held.pop(key, None)
        self._held[key] = new_event(
            event_type=event_type, source=self._source, district_id=district_id, request_id=None, data=data
        )
        if len(self._held) >= self._window:
            await self.flush()

    async def flush(self) -> None:
        """Send every held event at once and wait for every acknowledgement; BrokerUnavailable if one failed."""
        events = list(self._held.values())
        self._held.clear()
        if not events:
            return
        outcomes = await asyncio.gather(
            *(self._publisher.publish(self._topic, event) for event in events), return_exceptions=True
        )
        failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        self.announced += len(events) - len(failures)
        if failures:
            raise failures[0]
