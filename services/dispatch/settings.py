"""Dispatch's own knobs on top of the platform's DispatchSettings: timers, sweeps and default policies."""

from __future__ import annotations

from pydantic import Field

from shared.settings import DispatchSettings


class DispatchEngineSettings(DispatchSettings):
    timezone: str = Field("Asia/Shanghai", validation_alias="DISPATCH_TIMEZONE")
    timer_poll_seconds: float = Field(0.5, gt=0, validation_alias="DISPATCH_TIMER_POLL_SECONDS")
    # A replica that claimed a timer and died leaves it to others after the lease.
    timer_lease_seconds: float = Field(30.0, gt=0, validation_alias="DISPATCH_TIMER_LEASE_SECONDS")
    # A writer that claimed the next version of a request and died frees it for others after this lease.
    version_claim_lease_seconds: float = Field(30.0, gt=0, validation_alias="DISPATCH_VERSION_CLAIM_LEASE_SECONDS")
    rematch_sweep_seconds: float = Field(10.0, gt=0, validation_alias="DISPATCH_REMATCH_SWEEP_SECONDS")
    outbox_sweep_seconds: float = Field(2.0, gt=0, validation_alias="DISPATCH_OUTBOX_SWEEP_SECONDS")
    outbox_grace_seconds: float = Field(5.0, ge=0, validation_alias="DISPATCH_OUTBOX_GRACE_SECONDS")
    # Per menu item `offer_timeout_seconds` wins; these apply when the item does not say.
    offer_timeout_seconds: float = Field(900.0, gt=0, validation_alias="DISPATCH_OFFER_TIMEOUT_SECONDS")
    urgent_offer_timeout_seconds: float = Field(120.0, gt=0, validation_alias="DISPATCH_URGENT_OFFER_TIMEOUT_SECONDS")
    urgent_widen_every_seconds: float = Field(60.0, gt=0, validation_alias="DISPATCH_URGENT_WIDEN_EVERY_SECONDS")
    candidates_per_query: int = Field(50, ge=1, validation_alias="DISPATCH_CANDIDATES_PER_QUERY")
