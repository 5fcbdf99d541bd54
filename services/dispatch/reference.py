"""Reference data dispatch needs while deciding (grids, menu items, who answers for each level, time zones).

Written by the reference-data admin, read here by `_id` (or a small equality) and cached: deciding is
synchronous and in memory, so the owner fetches what a batch needs before applying it (`ensure`), and
the rules read the cache (`get`). A value older than `ttl` is fetched again the next time it is needed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Final

from services.dispatch.domain.matching import Place
from services.dispatch.domain.states import EscalationLevel
from shared.mongo import Document

Key = tuple[str, ...]
Fetch = Callable[[Key], Awaitable[Document | None]]
DEFAULT_TTL_SECONDS: Final = 60.0


@dataclass(frozen=True)
class Keys:
    """The cache keys of each kind of reference document."""

    @staticmethod
    def district(district_id: str) -> Key:
        return ("districts", district_id)

    @staticmethod
    def grid(district_id: str, grid_id: str) -> Key:
        return ("grids", district_id, grid_id)

    @staticmethod
    def menu_item(district_id: str, community_id: str, code: str) -> Key:
        return ("menu_items", district_id, f"{community_id}:{code}")

    @staticmethod
    def team_of_grid(district_id: str, grid_id: str) -> Key:
        return ("teams", district_id, grid_id)

    @staticmethod
    def community(district_id: str, community_id: str) -> Key:
        return ("communities", district_id, community_id)

    @staticmethod
    def street_office(district_id: str, street_office_id: str) -> Key:
        return ("street_offices", district_id, street_office_id)

    @classmethod
    def responsible(cls, place: Place) -> tuple[Key, ...]:
        d = place.district_id
        keys = [cls.district(d)]
        if place.grid_id:
            keys.append(cls.team_of_grid(d, place.grid_id))
        if place.community_id:
            keys.append(cls.community(d, place.community_id))
        if place.street_office_id:
            keys.append(cls.street_office(d, place.street_office_id))
        return tuple(keys)


class ReferenceCache:
    def __init__(self, fetch: Fetch, *, ttl_seconds: float = DEFAULT_TTL_SECONDS) -> None:
        self._fetch = fetch
        self._ttl = ttl_seconds
        self._values: dict[Key, tuple[Document | None, float]] = {}

    def get(self, key: Key) -> Document | None:
        found = self._values.get(key)
        return found[0] if found else None

    def put(self, key: Key, value: Document | None) -> None:
        self._values[key] = (value, time.monotonic())

    async def ensure(self, keys: Iterable[Key]) -> None:
        now = time.monotonic()
        for key in dict.fromkeys(keys):
            found = self._values.get(key)
            if found is None or now - found[1] > self._ttl:
                self.put(key, await self._fetch(key))

    # -- what the rules ask --------------------------------------------------------------------
    def timezone(self, district_id: str, default: str) -> str:
        return str((self.get(Keys.district(district_id)) or {}).get("timezone") or default)

    def responsible(self, level: EscalationLevel, place: Place) -> Document:
        """Who answers for the request's area at `level`: team captain, community director, street office, district."""
        d = place.district_id
        if level is EscalationLevel.GRID:
            team = self.get(Keys.team_of_grid(d, place.grid_id)) or {}
            return _person("team_captain", volunteer_id=team.get("captain_volunteer_id"))
        if level is EscalationLevel.COMMUNITY:
            community = self.get(Keys.community(d, place.community_id)) or {}
            return _person(
                "community_director", name=community.get("director_name"), phone=community.get("director_phone")
            )
        if level is EscalationLevel.STREET:
            office = self.get(Keys.street_office(d, place.street_office_id)) or {}
            return _person("street_office", name=office.get("responsible_name"), phone=office.get("responsible_phone"))
        district = self.get(Keys.district(d)) or {}
        return _person("district", name=district.get("name_zh"), phone=district.get("phone"))


def _person(role: str, **fields: str | None) -> Document:
    return {"role": role, **{k: v for k, v in fields.items() if v}}
