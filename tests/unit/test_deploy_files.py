"""What deploy/ must keep saying, read from the files themselves (no Docker engine or cluster needed).

The linters (deploy/lint/lint.sh) check shape and general good practice; these tests check the decisions
that are ours: which defects of issue 15 must not come back.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SERVICES = ("intake", "dispatch", "notify", "console")

Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def compose() -> Manifest:
    loaded: Manifest = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


@pytest.fixture(scope="module")
def manifests() -> list[Manifest]:
    return [
        document
        for path in sorted((DEPLOY / "k8s").glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


def of_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def workloads(manifests: list[Manifest]) -> dict[str, Manifest]:
    return {**of_kind(manifests, "Deployment"), **of_kind(manifests, "StatefulSet")}


def image_user() -> int:
    users = re.findall(r"^USER (\S+)", (DEPLOY / "Dockerfile").read_text(), re.MULTILINE)
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), f"USER {uid}: Kubernetes' runAsNonRoot can only verify a numeric user"
    return int(uid)


class TestCompose:
    def test_every_service_restarts_after_a_failure(self, compose: Manifest) -> None:
        for name, service in compose["services"].items():
            assert service.get("restart") in ("unless-stopped", "always"), name

    def test_kafka_keeps_its_log_on_the_volume(self, compose: Manifest) -> None:
        kafka = compose["services"]["kafka"]
        mounts = dict(volume.split(":")[::-1] for volume in kafka["volumes"])
        assert mounts[kafka["environment"]["KAFKA_LOG_DIRS"]] == "kafka-data"

    def test_kafka_is_the_native_stacks_version(self, compose: Manifest) -> None:
        pom = (DEPLOY / "native" / "kafka" / "pom.xml").read_text()
        native = re.search(r"<kafka.version>(.+)</kafka.version>", pom)
        assert native is not None
        assert compose["services"]["kafka"]["image"] == f"apache/kafka:{native.group(1)}"

    def test_mongodb_is_healthy_only_as_primary(self, compose: Manifest) -> None:
        assert "isWritablePrimary" in " ".join(compose["services"]["mongo"]["healthcheck"]["test"])

    def test_one_image_is_built_once_and_runs_every_service(self, compose: Manifest) -> None:
        services = compose["services"]
        assert [name for name, s in services.items() if "build" in s] == ["intake"]
        assert len({services[name]["image"] for name in SERVICES}) == 1
        for name in SERVICES:
            assert services[name]["command"] == [f"grid-{name}"]

    def test_the_signing_key_has_no_default(self, compose: Manifest) -> None:
        assert ":?" in compose["x-service-env"]["GRID_ID_SIGNING_KEY"]


class TestKubernetes:
    def test_no_secret_in_the_manifests_and_no_credential_in_the_config_map(self, manifests: list[Manifest]) -> None:
        assert not of_kind(manifests, "Secret")
        config = of_kind(manifests, "ConfigMap")["grid-config"]["data"]
        for name in ("MONGODB_URI", "GRID_ID_SIGNING_KEY", "KAFKA_SASL_PASSWORD", "KAFKA_SASL_USERNAME"):
            assert name not in config

    def test_notify_replicas_need_no_identity(self, manifests: list[Manifest]) -> None:
        # Positions are log offsets and one consumer group shares the side effects: nothing is per replica.
        notify = of_kind(manifests, "Deployment")["notify"]
        assert "env" not in notify["spec"]["template"]["spec"]["containers"][0]
        assert not of_kind(manifests, "StatefulSet")

    @pytest.mark.parametrize("name", SERVICES)
    def test_every_service_is_probed_limited_restricted_spread_and_budgeted(
        self, manifests: list[Manifest], name: str
    ) -> None:
        pod = workloads(manifests)[name]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["command"] == [f"grid-{name}"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert "startupProbe" in container
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert "memory" in container["resources"]["limits"]
        security = container["securityContext"]
        assert security["runAsNonRoot"] and security["runAsUser"] == image_user()
        assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
        assert security["capabilities"]["drop"] == ["ALL"]
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert "preStop" in container["lifecycle"]
        assert pod["topologySpreadConstraints"]
        assert name in of_kind(manifests, "PodDisruptionBudget")
        assert {"configMapRef": {"name": "grid-config"}} in container["envFrom"]
        assert {"secretRef": {"name": "grid-secrets"}} in container["envFrom"]

    def test_the_events_host_streams_unbuffered_and_the_public_urls_match_the_ingress(
        self, manifests: list[Manifest]
    ) -> None:
        ingresses = of_kind(manifests, "Ingress")
        hosts = {
            path["backend"]["service"]["name"]: rule["host"]
            for ingress in ingresses.values()
            for rule in ingress["spec"]["rules"]
            for path in rule["http"]["paths"]
        }
        config = of_kind(manifests, "ConfigMap")["grid-config"]["data"]
        assert urlparse(config["INTAKE_PUBLIC_URL"]).hostname == hosts["intake"]
        assert urlparse(config["NOTIFY_PUBLIC_URL"]).hostname == hosts["notify"]
        events = next(i for i in ingresses.values() if i["spec"]["rules"][0]["host"] == hosts["notify"])
        assert events["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
        assert int(events["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 60
