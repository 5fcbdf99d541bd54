"""Notify's settings: the platform's NotifySettings plus streams, history, webhooks and messages."""

from __future__ import annotations

import os
import socket

from pydantic import Field

from shared.settings import NotifySettings as PlatformNotifySettings


def _default_instance_id() -> str:
    return os.environ.get("HOSTNAME") or socket.gethostname() or "notify-1"


class NotifySettings(PlatformNotifySettings):
    # Every replica consumes every status event in its own group `<NOTIFY_GROUP>-<instance id>`, so the
    # id must be stable across restarts of one replica (a StatefulSet pod name, a systemd instance name).
    instance_id: str = Field(default_factory=_default_instance_id, validation_alias="NOTIFY_INSTANCE_ID")
    history_hours: float = Field(48.0, ge=24.0, validation_alias="NOTIFY_HISTORY_HOURS")
    sweep_seconds: float = Field(600.0, gt=0, validation_alias="NOTIFY_SWEEP_SECONDS")
    client_queue_size: int = Field(512, ge=1, validation_alias="NOTIFY_CLIENT_QUEUE_SIZE")
    # How long a reader waits for a claimed but not yet written position before declaring it empty.
    gap_timeout_seconds: float = Field(3.0, gt=0, validation_alias="NOTIFY_GAP_TIMEOUT_SECONDS")
    poll_seconds: float = Field(1.0, gt=0, validation_alias="NOTIFY_POLL_SECONDS")

    webhook_max_attempts: int = Field(8, ge=1, validation_alias="NOTIFY_WEBHOOK_MAX_ATTEMPTS")
    webhook_backoff_base_seconds: float = Field(5.0, gt=0, validation_alias="NOTIFY_WEBHOOK_BACKOFF_BASE_SECONDS")
    webhook_backoff_cap_seconds: float = Field(3600.0, gt=0, validation_alias="NOTIFY_WEBHOOK_BACKOFF_CAP_SECONDS")
    webhook_timeout_seconds: float = Field(5.0, gt=0, validation_alias="NOTIFY_WEBHOOK_TIMEOUT_SECONDS")
    webhook_concurrency: int = Field(32, ge=1, validation_alias="NOTIFY_WEBHOOK_CONCURRENCY")
    webhook_per_endpoint: int = Field(2, ge=1, validation_alias="NOTIFY_WEBHOOK_PER_ENDPOINT")
    webhook_poll_seconds: float = Field(0.5, gt=0, validation_alias="NOTIFY_WEBHOOK_POLL_SECONDS")
    # Loopback targets are refused like other private networks unless this is set (tests, local dev).
    webhook_allow_loopback: bool = Field(False, validation_alias="NOTIFY_WEBHOOK_ALLOW_LOOPBACK")

    sms_gateway: str = Field("log", validation_alias="NOTIFY_SMS_GATEWAY")
