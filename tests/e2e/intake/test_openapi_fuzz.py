"""Schemathesis against intake's own OpenAPI document: no input gives a 5xx or an answer off the schema.

Driven by Hypothesis directly, operation by operation (schemathesis' pytest plugin does not load under
this pytest), with a bounded number of examples so that the run stays short on a shared machine.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.service_processes import ServiceProcess

pytestmark = pytest.mark.e2e
MAX_EXAMPLES = int(os.environ.get("INTAKE_FUZZ_EXAMPLES", "25"))  # per operation (about 50)
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, status_code_conformance]


def aim_at_the_demo_district(case: Any) -> None:
    """Most cases should get past tenancy into the handlers, so point them at a district that exists."""
    if case.path_parameters and "district_id" in case.path_parameters:
        case.path_parameters["district_id"] = "chengzhong"
    if isinstance(case.query, dict) and "jurisdiction_id" in case.query:
        case.query["jurisdiction_id"] = "chengzhong"


def test_no_input_breaks_the_contract(services: dict[str, ServiceProcess], intake_keys: dict[str, str]) -> None:
    base_url = services["intake"].url
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: dict[str, str] = {}
    operations = 0
    calls: list[int] = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            aim_at_the_demo_district(case)
            response = case.call_and_validate(
                base_url=base_url, headers={"X-API-Key": intake_keys["operator"]}, checks=CHECKS
            )
            calls.append(response.status_code)

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them all at once
            failures[operation.label] = str(exc)[:2000]
    assert operations >= 45
    assert len(calls) >= operations * 5  # the examples really ran
    assert any(200 <= status < 300 for status in calls)  # and some got past validation and auth
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
