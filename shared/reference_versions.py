"""Per-district version tokens of reference data, so that readers holding it in memory know when to re-read.

Collection `reference_versions`, one small document per district (`_id` = the district id; `"*"` for what
spans districts, such as platform admins' API keys): `{_id, <collection>: <token>, changed_at}`. Written by
the reference-data admin only (intake's admin API, `gridctl`, `shared.api_keys`): after every write of a
reference collection it sets that collection's token of each district it touched to a new random value.
A random token rather than a counter: `$set` needs no read and no conditional update (not atomic on
FerretDB v1), and two writers racing still both leave a token that differs from what any reader saw.

Readers (intake's reference cache) read the whole collection: one document per district, so it grows with
the number of districts, never with history.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from pymongo.asynchronous.database import AsyncDatabase

from shared.mongo import Document

COLLECTION = "reference_versions"
# The scope of documents that belong to no single district (platform admins' API keys).
PLATFORM = "*"
# Plenty: a deployment has tens of districts, not thousands.
MAX_SCOPES = 10_000


async def bump(db: AsyncDatabase[Document], collection: str, scopes: Iterable[str | None]) -> None:
    """Announce that `collection` changed in each of these districts (None: the platform scope)."""
    token = uuid.uuid4().hex
    now = datetime.now(UTC)
    for scope in sorted({PLATFORM if s is None else s for s in scopes}):
        await db[COLLECTION].update_one({"_id": scope}, {"$set": {collection: token, "changed_at": now}}, upsert=True)


async def read_all(db: AsyncDatabase[Document]) -> dict[str, dict[str, str]]:
    """Every scope's tokens: {district id or "*": {collection: token}}."""
    versions: dict[str, dict[str, str]] = {}
    async for document in db[COLLECTION].find({}).limit(MAX_SCOPES):
        versions[str(document["_id"])] = {
            name: value
            for name, value in document.items()
            if name not in ("_id", "changed_at") and isinstance(value, str)
        }
    return versions


async def read_one(db: AsyncDatabase[Document], scope: str) -> dict[str, str]:
    document = await db[COLLECTION].find_one({"_id": scope}) or {}
    return {
        name: value for name, value in document.items() if name not in ("_id", "changed_at") and isinstance(value, str)
    }
