"""Parameters and response documentation used by several route modules."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Path

from shared.problem_details import PROBLEM_JSON, PROBLEM_SCHEMA

RequestId = Annotated[str, Path(min_length=1, max_length=100, description="Request id returned by the submission")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Retry-safe key per API key: same key and body, same effect; same key, other body: 422",
    ),
]
AccessToken = Annotated[
    str | None,
    Header(alias="X-Access-Token", min_length=1, max_length=64, description="The resident's token from the 202"),
]
_TEXTS = {
    401: "Missing, unknown or revoked API key",
    403: "The key's role may not do this",
    404: "Unknown (or another district's) district or request",
    409: "Not possible in the request's current state",
    413: "Body too large",
    422: "Invalid input, with the fields named",
    429: "Rate limit exceeded; see Retry-After",
    503: "Kafka unavailable; see Retry-After",
}


def problems(*statuses: int) -> dict[int | str, dict[str, object]]:
    return {
        status: {"description": _TEXTS[status], "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}
        for status in statuses
    }
