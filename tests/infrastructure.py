"""Where the tests find real Kafka and a MongoDB-wire database.

In order: KAFKA_BOOTSTRAP / MONGODB_URI from the environment; testcontainers when a Docker engine
answers; otherwise the native stack of deploy/native/stack.sh, started if it is not running.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Infrastructure:
    kafka_bootstrap: str
    mongodb_uri: str
    origin: str


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


@contextmanager
def _containers() -> Iterator[Infrastructure]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.mongodb import MongoDbContainer

    with KafkaContainer("apache/kafka:4.1.0").with_kraft() as kafka, MongoDbContainer("mongo:8.0") as mongo:
        yield Infrastructure(kafka.get_bootstrap_server(), mongo.get_connection_url(), "testcontainers")


@contextmanager
def provide() -> Iterator[Infrastructure]:
    kafka, mongo = os.environ.get("KAFKA_BOOTSTRAP"), os.environ.get("MONGODB_URI")
    if kafka and mongo:
        yield Infrastructure(kafka, mongo, "environment")
    elif _docker_answers():
        with _containers() as infrastructure:
            yield infrastructure
    else:
        subprocess.run([str(ROOT / "deploy" / "native" / "stack.sh"), "start"], check=True)
        yield Infrastructure("127.0.0.1:9092", "mongodb://127.0.0.1:27017", "native")
