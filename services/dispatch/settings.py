"""Dispatch's own knobs on top of the platform's DispatchSettings: default policies and the loop's bounds."""

from __future__ import annotations

from pydantic import Field

from shared.settings import DispatchSettings


class DispatchEngineSettings(DispatchSettings):
    # A district's own `timezone` wins; this applies to districts that name none.
    timezone: str = Field("Asia/Shanghai", validation_alias="DISPATCH_TIMEZONE")
    # Per menu item `offer_timeout_seconds` wins; these apply when the item does not say.
    offer_timeout_seconds: float = Field(900.0, gt=0, validation_alias="DISPATCH_OFFER_TIMEOUT_SECONDS")
    urgent_offer_timeout_seconds: float = Field(120.0, gt=0, validation_alias="DISPATCH_URGENT_OFFER_TIMEOUT_SECONDS")
    urgent_widen_every_seconds: float = Field(60.0, gt=0, validation_alias="DISPATCH_URGENT_WIDEN_EVERY_SECONDS")
    # Eligible volunteers ranked per match (after availability, capacity and already-asked are applied);
    # when all of them have been asked, the level is matched again before the request climbs.
    candidates_per_query: int = Field(10, ge=1, validation_alias="DISPATCH_CANDIDATES_PER_QUERY")
    # Volunteers looked at per match at most, so a district where nearly everyone is busy stays cheap.
    match_scan_limit: int = Field(2000, ge=1, validation_alias="DISPATCH_MATCH_SCAN_LIMIT")
    max_poll_records: int = Field(500, ge=1, validation_alias="DISPATCH_MAX_POLL_RECORDS")
    commit_timeout_seconds: float = Field(10.0, gt=0, validation_alias="DISPATCH_COMMIT_TIMEOUT_SECONDS")
    # Kafka's view of a dead member: a replica paused longer than this loses its partitions.
    session_timeout_ms: int = Field(10_000, ge=1000, validation_alias="DISPATCH_SESSION_TIMEOUT_MS")
