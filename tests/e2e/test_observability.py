"""One trace from intake through Kafka to dispatch and notify; metrics per route template, lag, event counts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from shared import tracing
from shared.mongo import Document
from tests.e2e.service_processes import ServiceProcess
from tests.e2e.test_request_flow import groceries, operator_headers

pytestmark = pytest.mark.e2e


def log_lines_with_trace(log_dir: Path, service: str, port: int, trace_id: str) -> list[dict[str, object]]:
    lines = (log_dir / f"{service}-{port}.log").read_text(encoding="utf-8", errors="replace").splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    return [entry for entry in entries if entry.get("trace_id") == trace_id]


async def test_a_callers_trace_reaches_dispatch_and_notify_through_kafka(
    services: dict[str, ServiceProcess], db: AsyncDatabase[Document], service_logs: Path
) -> None:
    caller = tracing.new_trace()
    headers = {**await operator_headers(db), "traceparent": caller.traceparent()}
    async with httpx.AsyncClient(base_url=services["intake"].url, timeout=30) as client:
        response = await client.post("/v1/districts/chengzhong/requests", json=groceries(), headers=headers)
        metrics = (await client.get("/metrics")).text

    assert response.status_code == 202
    answered = tracing.parse_traceparent(response.headers["traceparent"])
    assert answered is not None and answered.trace_id == caller.trace_id
    assert 'route="/v1/districts/{district_id}/requests"' in metrics
    assert response.json()["request_id"] not in metrics  # ids never become label values

    seen: dict[str, int] = {}
    for _ in range(100):
        for name in ("dispatch", "notify"):
            seen[name] = len(log_lines_with_trace(service_logs, name, services[name].port, caller.trace_id))
        if all(seen.values()):
            break
        await asyncio.sleep(0.2)
    assert seen["dispatch"] > 0, "dispatch logged nothing under the caller's trace"
    assert seen["notify"] > 0, "notify logged nothing under the caller's trace"

    async with httpx.AsyncClient(timeout=10) as client:
        dispatch = (await client.get(f"{services['dispatch'].url}/metrics")).text
        notify = (await client.get(f"{services['notify'].url}/metrics")).text

    assert "dispatch_consumer_lag " in dispatch
    assert 'dispatch_status_events_published_total{type="request.received"}' in dispatch
    assert "notify_consumer_lag " in notify
    assert "notify_open_streams " in notify
