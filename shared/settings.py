"""Configuration read from environment variables (pydantic-settings), one class per service."""

from __future__ import annotations

import logging
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.contracts.topics import Topics
from shared.rate_limit import RateLimits

log = logging.getLogger(__name__)

# Public (it is in this repository), so it protects nothing: accepted only in explicit development mode.
DEVELOPMENT_SIGNING_KEY = "dev-only-signing-key-change-me"
# Placeholders that deployment examples in this repository carry: as public as the development key.
PLACEHOLDER_SIGNING_KEYS = frozenset(
    {DEVELOPMENT_SIGNING_KEY, "change-me-in-production", "replace-with-a-long-random-secret", ""}
)
MIN_SIGNING_KEY_LENGTH = 32


class InsecureConfiguration(ValueError):
    """A setting that would let anyone forge request ids and residents' access tokens."""


class PlatformSettings(BaseSettings):
    """What every service needs: where Kafka and the database are, and how to name things there."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    kafka_bootstrap: str = Field("127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP")
    mongodb_uri: str = Field("mongodb://127.0.0.1:27017", validation_alias="MONGODB_URI")
    mongodb_database: str = Field("grid", validation_alias="MONGODB_DATABASE")
    # Connections per process. The four services together stay below the local FerretDB's PostgreSQL pool
    # (180, deploy/native/stack.sh): FerretDB v1 deadlocks when that pool runs dry while it creates a
    # collection or an index, as a burst of 2,000 submissions with the driver's default (100 each) showed.
    mongodb_max_pool_size: int = Field(32, ge=1, le=1000, validation_alias="MONGODB_MAX_POOL_SIZE")
    # Lets tests and parallel environments share one broker without reading each other's events.
    topic_prefix: str = Field("", validation_alias="GRID_TOPIC_PREFIX")
    # `development` keeps the public development signing key (with a warning); anything else refuses it.
    environment: Literal["development", "production"] = Field("production", validation_alias="GRID_ENVIRONMENT")
    # Signs request ids so that intake can tell "accepted, not yet processed" from "never existed", and
    # derives residents' access tokens: whoever knows it can read and cancel any resident's request.
    id_signing_key: SecretStr = Field(SecretStr(DEVELOPMENT_SIGNING_KEY), validation_alias="GRID_ID_SIGNING_KEY")
    # Comma-separated keys of before a rotation: still accepted when checking ids and tokens, never used to sign.
    previous_id_signing_keys: SecretStr = Field(SecretStr(""), validation_alias="GRID_ID_SIGNING_KEYS_PREVIOUS")
    kafka_timeout_seconds: float = Field(5.0, gt=0, validation_alias="GRID_KAFKA_TIMEOUT_SECONDS")
    log_level: str = Field("INFO", validation_alias="GRID_LOG_LEVEL")
    host: str = Field("127.0.0.1", validation_alias="GRID_HOST")

    kafka_replication_factor: int = Field(1, ge=1, validation_alias="KAFKA_REPLICATION_FACTOR")

    # Abuse limits of every service's HTTP API (shared.rate_limit); intake's per-key limit is INTAKE_RATE_*.
    rate_per_key_per_second: float = Field(100.0, gt=0, validation_alias="GRID_RATE_PER_KEY_PER_SECOND")
    rate_key_burst: int = Field(200, ge=1, validation_alias="GRID_RATE_KEY_BURST")
    rate_per_address_per_second: float = Field(200.0, gt=0, validation_alias="GRID_RATE_PER_ADDRESS_PER_SECOND")
    rate_address_burst: int = Field(400, ge=1, validation_alias="GRID_RATE_ADDRESS_BURST")
    auth_failures_per_minute: float = Field(10.0, gt=0, validation_alias="GRID_AUTH_FAILURES_PER_MINUTE")
    auth_failure_burst: int = Field(20, ge=1, validation_alias="GRID_AUTH_FAILURE_BURST")

    def rate_limits(self) -> RateLimits:
        return RateLimits(
            per_key_per_second=self.rate_per_key_per_second,
            key_burst=self.rate_key_burst,
            per_address_per_second=self.rate_per_address_per_second,
            address_burst=self.rate_address_burst,
            auth_failures_per_minute=self.auth_failures_per_minute,
            auth_failure_burst=self.auth_failure_burst,
        )

    def signing_key(self) -> bytes:
        return self.id_signing_key.get_secret_value().encode()

    def verification_keys(self) -> tuple[bytes, ...]:
        """The current key first, then the previous ones: ids and tokens signed with any of them are ours."""
        previous = [k.strip() for k in self.previous_id_signing_keys.get_secret_value().split(",") if k.strip()]
        return (self.signing_key(), *(key.encode() for key in previous))

    def topics(self) -> Topics:
        return Topics(prefix=self.topic_prefix, replication_factor=self.kafka_replication_factor)

    def group(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


class ServiceSettings(PlatformSettings):
    """Settings of a service that signs or checks request ids: it refuses to start with a public key."""

    @model_validator(mode="after")
    def _refuse_public_signing_key(self) -> Self:
        key = self.id_signing_key.get_secret_value()
        if self.environment == "development":
            if key in PLACEHOLDER_SIGNING_KEYS:
                log.warning(
                    "GRID_ENVIRONMENT=development: request ids and access tokens are signed with a PUBLIC key; "
                    "anyone can forge them. Never expose this service."
                )
            return self
        if key in PLACEHOLDER_SIGNING_KEYS or len(key) < MIN_SIGNING_KEY_LENGTH:
            raise InsecureConfiguration(
                "GRID_ID_SIGNING_KEY must be a random secret of at least "
                f"{MIN_SIGNING_KEY_LENGTH} characters "
                "(`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`); "
                "the default and the examples in this repository are public. "
                "Only GRID_ENVIRONMENT=development accepts the development key."
            )
        return self


class IntakeSettings(ServiceSettings):
    port: int = Field(8000, validation_alias="INTAKE_PORT")
    public_url: str = Field("http://127.0.0.1:8000", validation_alias="INTAKE_PUBLIC_URL")
    notify_public_url: str = Field("http://127.0.0.1:8002", validation_alias="NOTIFY_PUBLIC_URL")


class DispatchSettings(ServiceSettings):
    port: int = Field(8001, validation_alias="DISPATCH_PORT")
    consumer_group: str = Field("dispatch", validation_alias="DISPATCH_GROUP")
    instance_id: str = Field("dispatch-1", validation_alias="DISPATCH_INSTANCE_ID")


class NotifySettings(ServiceSettings):
    port: int = Field(8002, validation_alias="NOTIFY_PORT")
    consumer_group: str = Field("notify", validation_alias="NOTIFY_GROUP")
    heartbeat_seconds: float = Field(15.0, gt=0, validation_alias="NOTIFY_HEARTBEAT_SECONDS")


HOUR_MS = 3_600_000


class KafkaSettings(BaseSettings):
    """How every Kafka client connects (TLS, SASL) and how the services create topics.

    shared/kafka.py reads these for each client it builds, so every service and gridctl gets them from the
    environment without passing them around. Credentials belong in a Kubernetes Secret (docs/deployment.md).
    """

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", validation_alias="KAFKA_SECURITY_PROTOCOL"
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", validation_alias="KAFKA_SASL_MECHANISM"
    )
    sasl_username: str | None = Field(None, validation_alias="KAFKA_SASL_USERNAME")
    sasl_password: SecretStr | None = Field(None, validation_alias="KAFKA_SASL_PASSWORD")
    # The CA that signed the brokers' certificates (the system's trust store when unset); a client
    # certificate and key for brokers that require mutual TLS.
    ssl_cafile: str | None = Field(None, validation_alias="KAFKA_SSL_CAFILE")
    ssl_certfile: str | None = Field(None, validation_alias="KAFKA_SSL_CERTFILE")
    ssl_keyfile: str | None = Field(None, validation_alias="KAFKA_SSL_KEYFILE")

    # acks=all waits for this many in-sync replicas; unset: replication factor - 1 (2 of 3), at least 1.
    min_insync_replicas: int | None = Field(None, ge=1, validation_alias="KAFKA_MIN_INSYNC_REPLICAS")
    # The status topic's retention is notify's history horizon: a stream cursor older than it gets `reset`.
    requests_retention_hours: float = Field(168.0, gt=0, validation_alias="KAFKA_REQUESTS_RETENTION_HOURS")
    status_retention_hours: float = Field(168.0, gt=0, validation_alias="KAFKA_STATUS_RETENTION_HOURS")
    dead_letter_retention_hours: float = Field(720.0, gt=0, validation_alias="KAFKA_DEADLETTER_RETENTION_HOURS")

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL_") and not (self.sasl_username and self.sasl_password):
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={self.security_protocol} needs KAFKA_SASL_USERNAME and _PASSWORD"
            )
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ValueError("KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together")
        return self

    def min_insync(self, replication_factor: int) -> int:
        wanted = self.min_insync_replicas or max(replication_factor - 1, 1)
        if wanted > replication_factor:
            raise ValueError(f"KAFKA_MIN_INSYNC_REPLICAS={wanted} exceeds the replication factor {replication_factor}")
        return wanted

    def topic_configs(self, topics: Topics) -> dict[str, dict[str, str]]:
        """Per topic name: the configuration it is created with."""
        retention = {
            topics.requests: self.requests_retention_hours,
            topics.status: self.status_retention_hours,
            topics.dead_letter: self.dead_letter_retention_hours,
        }
        min_insync = str(self.min_insync(topics.replication_factor))
        return {
            name: {"min.insync.replicas": min_insync, "retention.ms": str(int(hours * HOUR_MS))}
            for name, hours in retention.items()
        }
