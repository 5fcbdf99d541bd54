"""No credential survives into a log line, whichever library wrote it."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from shared.log_redaction import redact
from shared.structured_logging import JsonFormatter

KEY = "gsp_0123456789abcdef_S3cr3t-Key_value"
TOKEN = "9f86d081884c7d659a2feaa0c55ad015"


@pytest.mark.parametrize(
    "line",
    [
        f'127.0.0.1:5555 - "WebSocket /v1/districts/chengzhong/ws?api_key={KEY}" [accepted]',
        f'127.0.0.1:5555 - "WebSocket /v1/requests/abc/ws?after=3&access_token={TOKEN}" 403',
        f"GET /v1/districts/chengzhong/events?community_id=x&api_key={KEY}&grid_id=y",
        f"POST https://hooks.example.org/in?token={TOKEN} failed",
        f"authenticate({KEY!r}) failed",
        f"headers: Authorization: Bearer {KEY}",
        f"Sec-WebSocket-Protocol: grid.v1, grid.api-key.{KEY}, grid.access-token.{TOKEN}",
        f"Sec-WebSocket-Protocol: grid.v1, grid.volunteer-token.gvs1.{TOKEN}.{TOKEN}",
        "secret whsec_abcDEF123-_xyz shown",
    ],
)
def test_secrets_are_redacted(line: str) -> None:
    redacted = redact(line)
    for secret in ("S3cr3t-Key_value", TOKEN, "abcDEF123"):
        assert secret not in redacted
    assert "[redacted]" in redacted


def test_key_ids_and_harmless_text_stay() -> None:
    assert "gsp_0123456789abcdef_" in redact(KEY)
    assert (
        redact("idempotency_key=abc request 42 keyed by district") == "idempotency_key=abc request 42 keyed by district"
    )


def test_the_json_formatter_redacts_messages_and_exceptions() -> None:
    try:
        raise ValueError(f"bad key {KEY}")
    except ValueError:
        record = logging.LogRecord(
            "uvicorn.error", logging.INFO, __file__, 1, '"WebSocket %s" [accepted]', (f"/ws?api_key={KEY}",), None
        )
        record.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(record))

    assert "S3cr3t" not in json.dumps(entry)
    assert entry["message"] == '"WebSocket /ws?api_key=[redacted]" [accepted]'
