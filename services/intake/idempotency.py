"""Idempotency-Key as the IETF draft has it: the same key with the same body repeats the first answer; the
same key with another body is refused (422), never silently answered with the first request's result.

Intake derives the request id (or command id) from the key, so a repeat needs no stored answer. What is
stored is a fingerprint of the first body, once per (district, API key, operation, Idempotency-Key), by
inserting a document whose `_id` is that scope: atomic on FerretDB and MongoDB alike, and a single
`_id` read on a repeat. Two apps, or two keys of one app, never share a record.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from services.intake.problems import Problem
from services.intake.repository import IntakeRepository

SUBMIT = "submit"


def fingerprint(payload: dict[str, Any]) -> str:
    """The body as validated and normalised (a phone written two ways is one body)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def record_id(*, district_id: str, api_key_id: str, operation: str, idempotency_key: str) -> str:
    scope = "\x1f".join((district_id, api_key_id, operation, idempotency_key))
    return hashlib.sha256(scope.encode()).hexdigest()


def reused(idempotency_key: str) -> Problem:
    return Problem(
        422,
        "Idempotency-Key reused",
        f"the Idempotency-Key {idempotency_key!r} was already used with a different request body; "
        "use a new key for a new request",
        code="idempotency-key-reused",
        errors=[
            {
                "field": "Idempotency-Key",
                "location": "header",
                "message": "already used with a different body",
                "type": "idempotency_key_reused",
            }
        ],
    )


async def check(
    repository: IntakeRepository,
    *,
    district_id: str,
    api_key_id: str,
    operation: str,
    idempotency_key: str | None,
    payload: dict[str, Any],
) -> None:
    """Remember the first body under this key; raise 422 when a later call brings a different one."""
    if idempotency_key is None:
        return
    first = await repository.remember_idempotency(
        record_id(district_id=district_id, api_key_id=api_key_id, operation=operation, idempotency_key=idempotency_key),
        fingerprint(payload),
        district_id=district_id,
    )
    if first is not None and first != fingerprint(payload):
        raise reused(idempotency_key)
