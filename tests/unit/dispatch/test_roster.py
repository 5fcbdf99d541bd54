"""The in-memory roster index: the same shortlist however it was built, load moves a volunteer in order."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.dispatch.domain.matching import ALWAYS_AVAILABLE, MatchRequest, Place, Volunteer
from services.dispatch.domain.roster import Roster
from services.dispatch.domain.states import EscalationLevel

NOW = datetime(2014, 6, 3, 2, 0, tzinfo=UTC)


def population(size: int, seed: int = 7) -> list[Volunteer]:
    rng = random.Random(seed)
    volunteers = []
    for n in range(size):
        grid = rng.randrange(6)
        volunteers.append(
            Volunteer(
                f"v{n:04}",
                Place("d", f"s{grid // 3}", f"c{grid // 2}", f"g{grid}"),
                skills=frozenset(rng.sample(["errand", "repair", "care"], k=rng.randrange(1, 3))),
                languages=frozenset(rng.sample(["zh", "ug", "en"], k=1)),
                windows=ALWAYS_AVAILABLE,
                capacity=rng.randrange(1, 4),
                open_assignments=rng.randrange(0, 2),
                last_assigned_at=NOW - timedelta(hours=rng.randrange(100)) if rng.random() < 0.5 else None,
                active=rng.random() > 0.1,
                on_duty=rng.random() > 0.1,
            )
        )
    return volunteers


def ids(roster: Roster, request: MatchRequest) -> list[str]:
    shortlist = roster.shortlist(request, at=NOW, local_tz=UTC, want=10, scan_limit=500)
    return [v.volunteer_id for v in shortlist.volunteers]


def test_built_at_once_or_one_by_one_the_roster_gives_the_same_shortlists() -> None:
    volunteers = population(400)
    at_once = Roster.of(volunteers)
    one_by_one = Roster()
    for volunteer in volunteers:
        one_by_one.put(volunteer)
        one_by_one.restore_load(volunteer.volunteer_id, volunteer.open_assignments, volunteer.last_assigned_at)
    for level in EscalationLevel:
        for skills in (frozenset(), frozenset({"repair"}), frozenset({"errand", "care"})):
            request = MatchRequest("r", Place("d", "s0", "c1", "g2"), level, required_skills=skills, language="ug")
            assert ids(at_once, request) == ids(one_by_one, request)


def test_the_least_loaded_eligible_come_first_and_load_reorders_them() -> None:
    home = Place("d", "s0", "c0", "g0")
    roster = Roster.of(
        Volunteer(f"v{n}", home, skills=frozenset({"errand"}), windows=ALWAYS_AVAILABLE, capacity=3) for n in range(3)
    )
    request = MatchRequest("r", home, EscalationLevel.GRID, required_skills=frozenset({"errand"}))
    assert ids(roster, request) == ["v0", "v1", "v2"]
    roster.assigned("v0", NOW)
    assert ids(roster, request) == ["v1", "v2", "v0"]
    roster.released("v0")
    assert ids(roster, request) == ["v1", "v2", "v0"]  # never assigned before goes first, then least recently
    roster.put(replace(roster.get("v1") or Volunteer("v1", home), active=False))
    assert ids(roster, request) == ["v2", "v0"]
