"""API keys: scoped to one district and one role, stored only as hashes, shown once at creation.

A key reads `gsp_<key id>_<secret>`. The key id finds the stored record; the secret is compared by
its SHA-256 (keys are 256-bit random, so a slow password hash would add latency and no safety).
Every service authenticates with the same function, so intake and notify agree on who a caller is.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from pymongo.asynchronous.database import AsyncDatabase

from shared import reference_versions
from shared.mongo import Document

PREFIX = "gsp"


class Role(StrEnum):
    CLIENT_APP = "client_app"
    OPERATOR = "operator"
    VOLUNTEER = "volunteer"
    DISTRICT_ADMIN = "district_admin"
    PLATFORM_ADMIN = "platform_admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling: everything a route may filter or authorise by."""

    key_id: str
    district_id: str | None  # None only for platform_admin, which spans districts
    role: Role
    subject: str  # the volunteer id for volunteer keys; a label otherwise

    def can_see(self, district_id: str) -> bool:
        return self.role is Role.PLATFORM_ADMIN or self.district_id == district_id


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_plaintext_key() -> tuple[str, str, str]:
    """Return (key id, secret, the key as given to its owner)."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return key_id, secret, f"{PREFIX}_{key_id}_{secret}"


def split_key(plaintext: str) -> tuple[str, str] | None:
    prefix, _, rest = plaintext.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or len(key_id) != 16 or not secret:
        return None
    return key_id, secret


class ApiKeyRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db
        self._keys = db.api_keys

    async def create(self, *, district_id: str | None, role: Role, subject: str, label: str = "") -> str:
        if (district_id is None) != (role is Role.PLATFORM_ADMIN):
            raise ValueError("every role but platform_admin needs exactly one district")
        key_id, secret, plaintext = new_plaintext_key()
        await self._keys.insert_one(
            {
                "_id": key_id,
                "secret_sha256": hash_secret(secret),
                "district_id": district_id,
                "role": role.value,
                "subject": subject,
                "label": label,
                "created_at": datetime.now(UTC),
                "revoked_at": None,
            }
        )
        return plaintext

    async def revoke(self, key_id: str) -> bool:
        """Revoke the key and bump its district's `api_keys` version, so that services holding keys in memory
        drop it (intake within its check interval). Revoking again bumps again: that is how a revocation whose
        bump failed is completed."""
        record = await self._keys.find_one({"_id": key_id})
        if record is None:
            return False
        result = await self._keys.update_one(
            {"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": datetime.now(UTC)}}
        )
        await reference_versions.bump(self._db, "api_keys", [record.get("district_id")])
        return result.modified_count == 1

    async def authenticate(self, plaintext: str) -> Principal | None:
        parts = split_key(plaintext)
        if parts is None:
            return None
        key_id, secret = parts
        record = await self._keys.find_one({"_id": key_id})
        if record is None or record.get("revoked_at") is not None:
            return None
        if not hmac.compare_digest(record["secret_sha256"], hash_secret(secret)):
            return None
        return Principal(key_id, record["district_id"], Role(record["role"]), record["subject"])
