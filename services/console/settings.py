"""Console settings: where the other services answer, for readiness, actions and the live stream."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class ConsoleSettings(ServiceSettings):
    port: int = Field(8003, validation_alias="CONSOLE_PORT")
    intake_url: str = Field("http://127.0.0.1:8000", validation_alias="INTAKE_INTERNAL_URL")
    dispatch_url: str = Field("http://127.0.0.1:8001", validation_alias="DISPATCH_INTERNAL_URL")
    notify_url: str = Field("http://127.0.0.1:8002", validation_alias="NOTIFY_INTERNAL_URL")
    dispatch_group: str = Field("dispatch", validation_alias="DISPATCH_GROUP")
    notify_group: str = Field("notify", validation_alias="NOTIFY_GROUP")
    # The rates' days are the district's; districts that name no `timezone` use dispatch's default.
    default_timezone: str = Field("Asia/Shanghai", validation_alias="DISPATCH_TIMEZONE")
    # The relayed operator stream ends after this long without a byte (notify's heartbeat is 15 s).
    stream_idle_seconds: float = Field(60.0, gt=0, validation_alias="CONSOLE_STREAM_IDLE_SECONDS")
