"""Property-based fuzzing of a running service's own OpenAPI document with schemathesis.

Driven by Hypothesis directly, operation by operation (schemathesis' pytest plugin does not load under
this pytest), with a bounded number of examples so that a run stays short on a shared machine. Every
operation's failure is collected, then all are reported at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, status_code_conformance]
# The case after generation, before the call: aim it (a district that exists) and give its headers.
Prepare = Callable[[Any], dict[str, str]]


@dataclass
class FuzzRun:
    operations: int = 0
    statuses: list[int] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)

    def report(self) -> str:
        return "\n\n".join(f"{label}:\n{text}" for label, text in self.failures.items())


def fuzz(base_url: str, prepare: Prepare, *, max_examples: int, checks: list[Any] | None = None) -> FuzzRun:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    run = FuzzRun()
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        run.operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=max_examples,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def call(case: Any) -> None:
            headers = prepare(case)
            response = case.call_and_validate(base_url=base_url, headers=headers, checks=checks or CHECKS, timeout=20)
            run.statuses.append(response.status_code)

        try:
            call()
        except Exception as exc:
            run.failures[operation.label] = str(exc)[:2000]
    return run


def aim_at(district_id: str) -> Callable[[Any], None]:
    """Most cases should get past tenancy into the handlers, so point them at a district that exists."""

    def aim(case: Any) -> None:
        if case.path_parameters and "district_id" in case.path_parameters:
            case.path_parameters["district_id"] = district_id
        if isinstance(case.query, dict) and "jurisdiction_id" in case.query:
            case.query["jurisdiction_id"] = district_id

    return aim
