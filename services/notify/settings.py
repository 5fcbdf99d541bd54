"""Notify's settings: the platform's NotifySettings plus streams, history, webhooks and messages."""

from __future__ import annotations

import os
import socket

from pydantic import Field

from shared.settings import NotifySettings as PlatformNotifySettings


def _default_instance_id() -> str:
    return os.environ.get("HOSTNAME") or socket.gethostname() or "notify-1"


class NotifySettings(PlatformNotifySettings):
    # The replica that claimed a push message retries it; a replica restarted under the same id picks its
    # `retrying` messages up again, so give it a stable id (a pod or systemd instance name).
    instance_id: str = Field(default_factory=_default_instance_id, validation_alias="NOTIFY_INSTANCE_ID")
    client_queue_size: int = Field(512, ge=1, validation_alias="NOTIFY_CLIENT_QUEUE_SIZE")
    # History is the status topic (its retention, KAFKA_STATUS_RETENTION_HOURS, is the horizon). Each replica
    # keeps each district's latest events in memory and reads further back from Kafka.
    recent_events_per_district: int = Field(2000, ge=1, validation_alias="NOTIFY_RECENT_EVENTS_PER_DISTRICT")
    # At start, each status partition is read back by this many records, so reconnecting streams find
    # their recent history in memory on a replica that just started.
    startup_backfill: int = Field(10000, ge=0, validation_alias="NOTIFY_STARTUP_BACKFILL")
    log_readers: int = Field(4, ge=1, validation_alias="NOTIFY_LOG_READERS")
    log_read_timeout_seconds: float = Field(60.0, gt=0, validation_alias="NOTIFY_LOG_READ_TIMEOUT_SECONDS")
    # How often a replica asks where each partition's log begins now (what retention has deleted).
    horizon_refresh_seconds: float = Field(30.0, gt=0, validation_alias="NOTIFY_HORIZON_REFRESH_SECONDS")
    # Connections waiting to be accepted. A reconnect storm of ten thousand phones arrives faster than one
    # event loop accepts; past uvicorn's 2,048 the kernel drops their SYNs and each waits for its TCP retry
    # (1 s, then 3 s, ...). The kernel caps this at net.core.somaxconn (4,096 on current Linux: raise that on
    # nodes serving many streams).
    listen_backlog: int = Field(16384, ge=64, validation_alias="NOTIFY_LISTEN_BACKLOG")

    # Delivered webhook deliveries are kept this long for the deliveries API, then swept.
    delivery_retention_hours: float = Field(168.0, ge=24.0, validation_alias="NOTIFY_DELIVERY_RETENTION_HOURS")
    sweep_seconds: float = Field(3600.0, gt=0, validation_alias="NOTIFY_SWEEP_SECONDS")
    webhook_max_attempts: int = Field(8, ge=1, validation_alias="NOTIFY_WEBHOOK_MAX_ATTEMPTS")
    webhook_backoff_base_seconds: float = Field(5.0, gt=0, validation_alias="NOTIFY_WEBHOOK_BACKOFF_BASE_SECONDS")
    webhook_backoff_cap_seconds: float = Field(3600.0, gt=0, validation_alias="NOTIFY_WEBHOOK_BACKOFF_CAP_SECONDS")
    webhook_timeout_seconds: float = Field(5.0, gt=0, validation_alias="NOTIFY_WEBHOOK_TIMEOUT_SECONDS")
    webhook_concurrency: int = Field(32, ge=1, validation_alias="NOTIFY_WEBHOOK_CONCURRENCY")
    webhook_per_endpoint: int = Field(2, ge=1, validation_alias="NOTIFY_WEBHOOK_PER_ENDPOINT")
    # Loopback targets are refused like other private networks unless this is set (tests, local dev).
    webhook_allow_loopback: bool = Field(False, validation_alias="NOTIFY_WEBHOOK_ALLOW_LOOPBACK")

    sms_gateway: str = Field("log", validation_alias="NOTIFY_SMS_GATEWAY")
