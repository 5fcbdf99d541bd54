"""Schemathesis against intake's own OpenAPI document: no input gives a 5xx or an answer off the schema."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.e2e.openapi_fuzz import aim_at, fuzz
from tests.e2e.service_processes import ServiceProcess

pytestmark = pytest.mark.e2e
MAX_EXAMPLES = int(os.environ.get("INTAKE_FUZZ_EXAMPLES", "25"))  # per operation (about 50)


def test_no_input_breaks_the_contract(services: dict[str, ServiceProcess], intake_keys: dict[str, str]) -> None:
    aim = aim_at("chengzhong")

    def prepare(case: Any) -> dict[str, str]:
        aim(case)
        return {"X-API-Key": intake_keys["operator"]}

    run = fuzz(services["intake"].url, prepare, max_examples=MAX_EXAMPLES)

    assert run.operations >= 45
    assert len(run.statuses) >= run.operations * 5  # the examples really ran
    assert any(200 <= status < 300 for status in run.statuses)  # and some got past validation and auth
    assert not run.failures, run.report()
