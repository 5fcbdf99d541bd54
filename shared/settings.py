"""Configuration read from environment variables (pydantic-settings), one class per service."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.contracts.topics import Topics


class PlatformSettings(BaseSettings):
    """What every service needs: where Kafka and the database are, and how to name things there."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    kafka_bootstrap: str = Field("127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP")
    mongodb_uri: str = Field("mongodb://127.0.0.1:27017", validation_alias="MONGODB_URI")
    mongodb_database: str = Field("grid", validation_alias="MONGODB_DATABASE")
    # Lets tests and parallel environments share one broker without reading each other's events.
    topic_prefix: str = Field("", validation_alias="GRID_TOPIC_PREFIX")
    # Signs request ids so that intake can tell "accepted, not yet processed" from "never existed".
    id_signing_key: SecretStr = Field(
        SecretStr("dev-only-signing-key-change-me"), validation_alias="GRID_ID_SIGNING_KEY"
    )
    kafka_timeout_seconds: float = Field(5.0, gt=0, validation_alias="GRID_KAFKA_TIMEOUT_SECONDS")
    log_level: str = Field("INFO", validation_alias="GRID_LOG_LEVEL")
    host: str = Field("127.0.0.1", validation_alias="GRID_HOST")

    kafka_replication_factor: int = Field(1, ge=1, validation_alias="KAFKA_REPLICATION_FACTOR")

    def topics(self) -> Topics:
        return Topics(prefix=self.topic_prefix, replication_factor=self.kafka_replication_factor)

    def group(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


class IntakeSettings(PlatformSettings):
    port: int = Field(8000, validation_alias="INTAKE_PORT")
    public_url: str = Field("http://127.0.0.1:8000", validation_alias="INTAKE_PUBLIC_URL")
    notify_public_url: str = Field("http://127.0.0.1:8002", validation_alias="NOTIFY_PUBLIC_URL")


class DispatchSettings(PlatformSettings):
    port: int = Field(8001, validation_alias="DISPATCH_PORT")
    consumer_group: str = Field("dispatch", validation_alias="DISPATCH_GROUP")
    instance_id: str = Field("dispatch-1", validation_alias="DISPATCH_INSTANCE_ID")


class NotifySettings(PlatformSettings):
    port: int = Field(8002, validation_alias="NOTIFY_PORT")
    consumer_group: str = Field("notify", validation_alias="NOTIFY_GROUP")
    heartbeat_seconds: float = Field(15.0, gt=0, validation_alias="NOTIFY_HEARTBEAT_SECONDS")
