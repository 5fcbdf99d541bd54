"""The volunteer page's database access: its own collections, and reads by `_id` of what others write.

Intake owns `volunteer_sign_in_codes` and `volunteer_sessions` (both read and written by `_id` only; a
session or code found expired is deleted when it is read). It reads `volunteer_tasks` and
`service_records` (dispatch's read models), requests and residents by `_id`, and a volunteer by phone
(an equality the `phone` index of `volunteers` serves, created by intake's repository).
"""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from shared.mongo import Document

CODES = "volunteer_sign_in_codes"
SESSIONS = "volunteer_sessions"


class VolunteerPageStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db

    # -- sign-in -------------------------------------------------------------------------------
    async def volunteers_with_phone(self, phone: str) -> list[Document]:
        return await self._db.volunteers.find({"phone": phone}).limit(2).to_list()

    async def put_code(self, document: Document) -> None:
        """A new code replaces the phone's previous one: only the latest code works."""
        await self._db[CODES].replace_one({"_id": document["_id"]}, document, upsert=True)

    async def code(self, code_id: str) -> Document | None:
        return await self._db[CODES].find_one({"_id": code_id})

    async def count_wrong_guess(self, code_id: str) -> None:
        await self._db[CODES].update_one({"_id": code_id}, {"$inc": {"attempts": 1}})

    async def take_code(self, code_id: str) -> bool:
        """Delete the code; True for the one caller whose delete removed it (single use)."""
        return (await self._db[CODES].delete_one({"_id": code_id})).deleted_count == 1

    async def create_session(self, document: Document) -> None:
        await self._db[SESSIONS].insert_one(document)

    async def session(self, session_id: str) -> Document | None:
        return await self._db[SESSIONS].find_one({"_id": session_id})

    async def end_session(self, session_id: str) -> None:
        await self._db[SESSIONS].delete_one({"_id": session_id})

    # -- reading others' documents by _id ------------------------------------------------------
    async def volunteer(self, volunteer_id: str) -> Document | None:
        return await self._db.volunteers.find_one({"_id": volunteer_id})

    async def tasks(self, volunteer_id: str) -> Document | None:
        return await self._db.volunteer_tasks.find_one({"_id": volunteer_id})

    async def resident(self, resident_id: str) -> Document | None:
        return await self._db.residents.find_one({"_id": resident_id})

    async def service_record(self, record_id: str) -> Document | None:
        return await self._db.service_records.find_one({"_id": record_id})
