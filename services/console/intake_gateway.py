"""The console's writes and menu reads go through intake with the operator's own key.

Intake is where requests and commands are validated, authorised and published; passing the console's
calls through it keeps one place for those rules instead of a second copy here.
"""

from __future__ import annotations

from typing import Any, Literal

import httpx
from fastapi.responses import JSONResponse, Response

ActionName = Literal["reassign", "escalate", "close", "cancel", "priority", "confirm-check-in"]
ACTION_PATHS: dict[str, str] = {
    "reassign": "operator/reassign",
    "escalate": "operator/escalate",
    "close": "operator/close",
    "priority": "operator/priority",
    "cancel": "cancel",
    # A resident says on the phone they are fine: their scheduled check-in is confirmed (docs/care.md).
    "confirm-check-in": "care/confirm-check-in",
}
FORWARDED_HEADERS = ("content-type", "retry-after")


class IntakeGateway:
    def __init__(self, base_url: str, timeout_seconds: float = 10.0) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout_seconds)

    async def forward(self, method: str, path: str, *, api_key: str, body: dict[str, Any] | None = None) -> Response:
        """Intake's answer as it is (status, body, problem+json), or a 503 problem when intake is down."""
        try:
            answer = await self._client.request(method, path, json=body, headers={"X-API-Key": api_key})
        except httpx.HTTPError as exc:
            return JSONResponse(
                {"title": "Intake unavailable", "status": 503, "code": "intake-unavailable", "detail": str(exc)},
                status_code=503,
                media_type="application/problem+json",
            )
        headers = {name: answer.headers[name] for name in FORWARDED_HEADERS if name in answer.headers}
        return Response(answer.content, status_code=answer.status_code, headers=headers)

    async def close(self) -> None:
        await self._client.aclose()
