"""Intake's own limits, read from the environment next to the shared IntakeSettings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiLimits(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    rate_per_second: float = Field(100.0, gt=0, validation_alias="INTAKE_RATE_PER_SECOND")
    rate_burst: int = Field(200, ge=1, validation_alias="INTAKE_RATE_BURST")
    max_body_bytes: int = Field(64 * 1024, ge=1024, validation_alias="INTAKE_MAX_BODY_BYTES")
    # A revoked key keeps working for at most this long on a replica that saw it; 0 checks every call.
    auth_cache_seconds: float = Field(5.0, ge=0, validation_alias="INTAKE_AUTH_CACHE_SECONDS")
    # Reference data (districts, grids, menu) changes rarely; positive look-ups are cached this long.
    reference_cache_seconds: float = Field(5.0, ge=0, validation_alias="INTAKE_REFERENCE_CACHE_SECONDS")
    page_size_max: int = Field(100, ge=1, validation_alias="INTAKE_PAGE_SIZE_MAX")
