"""Where notify finds the people and names a message needs: documents read by `_id` only, and cached.

- the request's resident: dispatch's `requests` document (its `resident` part, by projection) and, when it
  names one, the `residents` document (language, vulnerabilities, proxy contact); status events on the
  public streams never carry a phone number;
- volunteers (`volunteers`), menu items (`menu_items`, `_id` = `<community>:<code>`), grids and districts:
  reference data, cached for `ttl_seconds`;
- the responsible person of a level: named by dispatch in the event's `detail.responsible`; a team captain
  is named by volunteer id and reached through the volunteer document.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Final

from pymongo.asynchronous.database import AsyncDatabase

from services.notify.domain.given_names import given_name
from services.notify.domain.message_plan import ResidentFacts, ResponsibleFacts, VolunteerFacts
from services.notify.domain.messages import LANGUAGES, Names
from shared.mongo import Document

REQUEST_FIELDS: Final = {"resident": 1, "resident_id": 1, "district_id": 1}
# A resident who cannot read (or see) a text gets it read aloud, unless they cannot hear a call either.
READ_ALOUD: Final = frozenset({"cannot_read", "sight"})
REQUESTS_REMEMBERED: Final = 20_000


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _spoken_language(languages: Any) -> str:
    spoken = [x for x in languages if x in LANGUAGES] if isinstance(languages, list) else []
    return spoken[0] if spoken else "zh"


class ContactBook:
    def __init__(self, db: AsyncDatabase[Document], *, ttl_seconds: float = 300.0) -> None:
        self._db = db
        self._ttl = ttl_seconds
        self._reference: dict[tuple[str, str], tuple[Document | None, float]] = {}
        # A request's resident part never changes after submission: remembered for the request's life.
        self._requests: OrderedDict[str, Document | None] = OrderedDict()

    async def _by_id(self, collection: str, document_id: str, *, district_id: str) -> Document | None:
        key = (collection, document_id)
        found = self._reference.get(key)
        if found is not None and time.monotonic() - found[1] < self._ttl:
            return found[0]
        document = await self._db[collection].find_one({"_id": document_id})
        owner = document_id if collection == "districts" else (document or {}).get("district_id")
        if document is not None and owner != district_id:
            document = None  # another district's document is as good as none
        self._reference[key] = (document, time.monotonic())
        return document

    async def _request(self, district_id: str, request_id: str) -> Document | None:
        if request_id in self._requests:
            self._requests.move_to_end(request_id)
            return self._requests[request_id]
        document = await self._db.requests.find_one({"_id": request_id}, REQUEST_FIELDS)
        if document is not None and document.get("district_id") != district_id:
            document = None
        if document is not None:  # not yet written is not remembered: the next event looks again
            self._requests[request_id] = document
            if len(self._requests) > REQUESTS_REMEMBERED:
                self._requests.popitem(last=False)
        return document

    async def resident(self, district_id: str, request_id: str, *, phone_override: str | None) -> ResidentFacts | None:
        """The request's resident: the phone they gave (or a preferences phone), else their proxy's."""
        request = await self._request(district_id, request_id)
        part: Document = (request or {}).get("resident") or {}
        resident_id = _text(part.get("id")) or _text((request or {}).get("resident_id"))
        record = await self._by_id("residents", resident_id, district_id=district_id) if resident_id else None
        record = record or {}
        phone = phone_override or _text(part.get("phone")) or _text(record.get("phone"))
        proxy: Document = record["proxy"] if isinstance(record.get("proxy"), dict) else {}
        if request is None and phone is None:
            return None
        vulnerabilities = set(record.get("vulnerabilities") or [])
        return ResidentFacts(
            name=_text(record.get("name")) or _text(part.get("name")) or "",
            phone=phone,
            language=_text(part.get("language")) or _text(record.get("language")) or "zh",
            cannot_read=bool(vulnerabilities & READ_ALOUD) and "hearing" not in vulnerabilities,
            proxy_name=_text(proxy.get("name")),
            proxy_phone=_text(proxy.get("phone")),
        )

    async def volunteer(self, district_id: str, volunteer_id: str) -> VolunteerFacts:
        document = await self._by_id("volunteers", volunteer_id, district_id=district_id) or {}
        return VolunteerFacts(
            volunteer_id=volunteer_id,
            phone=_text(document.get("phone")),
            language=_spoken_language(document.get("languages")),
            given_name=given_name(_text(document.get("name"))),
        )

    async def names(self, district_id: str, data: dict[str, Any]) -> Names:
        community, code, grid_id = data.get("community_id"), data.get("menu_item_code"), data.get("grid_id")
        item = await self._by_id("menu_items", f"{community}:{code}", district_id=district_id) if community else None
        grid = await self._by_id("grids", str(grid_id), district_id=district_id) if grid_id else None
        return Names(
            item={lang: v for lang in LANGUAGES if (v := _text((item or {}).get(f"name_{lang}")))},
            place={lang: v for lang in LANGUAGES if (v := _text((grid or {}).get(f"name_{lang}")))},
            level=str(data.get("level") or "community"),
        )

    async def responsible(self, district_id: str, data: dict[str, Any]) -> ResponsibleFacts | None:
        """Whom dispatch named for the event's level; the district office when only the role is known."""
        detail = data.get("detail") or {}
        named = detail.get("responsible") if isinstance(detail.get("responsible"), dict) else None
        if named is None:
            if detail.get("responsible_role") != "district":
                return None
            district = await self.district(district_id) or {}
            return ResponsibleFacts("district", _text(district.get("name_zh")), _text(district.get("phone")))
        role = str(named.get("role") or "district")
        captain = _text(named.get("volunteer_id"))
        if captain:
            document = await self._by_id("volunteers", captain, district_id=district_id) or {}
            language = _spoken_language(document.get("languages"))
            return ResponsibleFacts(role, _text(document.get("name")), _text(document.get("phone")), language)
        return ResponsibleFacts(role, _text(named.get("name")), _text(named.get("phone")))

    async def district(self, district_id: str) -> Document | None:
        return await self._by_id("districts", district_id, district_id=district_id)
