"""Kafka security options for every client, and the configuration topics are created with."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.contracts.topics import Topics
from shared.kafka import client_options
from shared.settings import KafkaSettings


def settings(**env: str) -> KafkaSettings:
    return KafkaSettings(**env)  # type: ignore[arg-type]


def test_plaintext_by_default_with_no_credentials() -> None:
    assert client_options(settings()) == {"security_protocol": "PLAINTEXT"}


def test_sasl_over_tls_passes_mechanism_credentials_and_a_tls_context() -> None:
    options = client_options(
        settings(
            KAFKA_SECURITY_PROTOCOL="SASL_SSL",
            KAFKA_SASL_MECHANISM="SCRAM-SHA-256",
            KAFKA_SASL_USERNAME="grid",
            KAFKA_SASL_PASSWORD="s3cret",
        )
    )
    assert options["security_protocol"] == "SASL_SSL"
    assert (options["sasl_mechanism"], options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "SCRAM-SHA-256",
        "grid",
        "s3cret",
    )
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED


def test_sasl_without_a_password_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError, match="KAFKA_SASL_USERNAME"):
        settings(KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", KAFKA_SASL_USERNAME="grid")


def test_a_client_certificate_needs_its_key() -> None:
    with pytest.raises(ValidationError, match="KAFKA_SSL_KEYFILE"):
        settings(KAFKA_SECURITY_PROTOCOL="SSL", KAFKA_SSL_CERTFILE="/etc/grid/kafka/client.crt")


def test_the_password_never_shows_in_the_settings_repr() -> None:
    configured = settings(KAFKA_SECURITY_PROTOCOL="SASL_SSL", KAFKA_SASL_USERNAME="grid", KAFKA_SASL_PASSWORD="s3cret")
    assert "s3cret" not in repr(configured)


def test_topics_get_min_insync_replicas_below_the_replication_factor_and_their_retention() -> None:
    topics = Topics(prefix="p.", replication_factor=3)
    configs = settings(KAFKA_STATUS_RETENTION_HOURS="72").topic_configs(topics)
    assert configs[topics.status] == {"min.insync.replicas": "2", "retention.ms": str(72 * 3_600_000)}
    assert configs[topics.requests]["retention.ms"] == str(168 * 3_600_000)
    assert configs[topics.dead_letter]["retention.ms"] == str(720 * 3_600_000)


def test_one_broker_needs_one_in_sync_replica_and_more_than_the_replicas_is_refused() -> None:
    assert settings().topic_configs(Topics())["grid.status.v2"]["min.insync.replicas"] == "1"
    with pytest.raises(ValueError, match="exceeds the replication factor"):
        settings(KAFKA_MIN_INSYNC_REPLICAS="2").topic_configs(Topics(replication_factor=1))


KAFKA_CLIENTS = re.compile(r"AIOKafka(?:Consumer|Producer|AdminClient)\((?P<arguments>[^()]*(?:\([^()]*\)[^()]*)*)\)")
KNOWN_WITHOUT_SECURITY: set[str] = set()


def test_every_kafka_client_of_the_services_gets_the_security_options() -> None:
    root = Path(__file__).resolve().parents[2]
    without = set()
    for path in [*root.glob("shared/**/*.py"), *root.glob("services/**/*.py")]:
        for call in KAFKA_CLIENTS.finditer(path.read_text()):
            if "client_options" not in call.group("arguments"):
                without.add(str(path.relative_to(root)))
    assert without == KNOWN_WITHOUT_SECURITY
