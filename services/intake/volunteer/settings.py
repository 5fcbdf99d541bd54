"""The volunteer page's settings, read from the environment next to IntakeSettings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class VolunteerPageSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    # The SMS adapter of shared.gateways that sends sign-in codes. "log" only writes the message to the log:
    # intake refuses to use it unless GRID_ENVIRONMENT=development (a code in a log is a password in a log).
    gateway: str = Field("log", validation_alias="VOLUNTEER_SIGN_IN_GATEWAY")
    # False only for a plain-http page on 127.0.0.1 (development and tests); intake refuses it for any other
    # INTAKE_PUBLIC_URL, so a deployment always sends the session cookie over HTTPS only.
    cookie_secure: bool = Field(True, validation_alias="VOLUNTEER_COOKIE_SECURE")
    session_days: int = Field(30, ge=1, le=90, validation_alias="VOLUNTEER_SESSION_DAYS")
    code_minutes: int = Field(5, ge=1, le=15, validation_alias="VOLUNTEER_CODE_MINUTES")
    # Codes sent per phone and per client address, per 10 minutes; wrong guesses allowed per code.
    codes_per_phone: int = Field(3, ge=1, validation_alias="VOLUNTEER_CODES_PER_PHONE")
    codes_per_address: int = Field(10, ge=1, validation_alias="VOLUNTEER_CODES_PER_ADDRESS")
    attempts_per_code: int = Field(5, ge=1, le=10, validation_alias="VOLUNTEER_ATTEMPTS_PER_CODE")
    # Live notifications: the page gets a token for notify's volunteer stream that lasts this long.
    stream_token_minutes: int = Field(60, ge=5, le=24 * 60, validation_alias="VOLUNTEER_STREAM_TOKEN_MINUTES")
