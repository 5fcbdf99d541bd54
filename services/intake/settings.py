"""Intake's own limits, read from the environment next to the shared IntakeSettings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiLimits(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    rate_per_second: float = Field(100.0, gt=0, validation_alias="INTAKE_RATE_PER_SECOND")
    rate_burst: int = Field(200, ge=1, validation_alias="INTAKE_RATE_BURST")
    max_body_bytes: int = Field(64 * 1024, ge=1024, validation_alias="INTAKE_MAX_BODY_BYTES")
    # Reference data and keys are held in memory (services/intake/reference_cache.py). Every this often intake
    # reads the per-district version tokens: a change made elsewhere (a revoked key too) is seen within it.
    reference_check_seconds: float = Field(1.0, gt=0, le=60, validation_alias="INTAKE_REFERENCE_CHECK_SECONDS")
    # Backstop for a writer that crashed between its write and its token: everything is re-read this often.
    reference_max_age_seconds: float = Field(60.0, gt=0, validation_alias="INTAKE_REFERENCE_MAX_AGE_SECONDS")
    # A cached key is trusted only while the last successful check is at most this old (then every call reads
    # its key again), so a revoked key never works longer than this; 0 caches no key (reads every call).
    auth_cache_seconds: float = Field(5.0, ge=0, validation_alias="INTAKE_AUTH_CACHE_SECONDS")
    page_size_max: int = Field(100, ge=1, validation_alias="INTAKE_PAGE_SIZE_MAX")
