"""Secrets out of log lines: whatever a library logs (a URL with `?api_key=`, a header), the line is redacted.

Applied by the JSON formatter to every record of every service, so it also covers lines we do not
write ourselves, such as the server's "WebSocket /path?access_token=… [accepted]".
"""

from __future__ import annotations

import re

REDACTED = "[redacted]"
# Query or form parameters that carry a credential, whatever the parameter's position.
_SECRET_PARAMETER = re.compile(
    r"(?i)(?<![A-Za-z0-9_])((?:api[_-]?key|access[_-]?token|token|secret|password|signature|key)=)[^&\s\"'#<>]+"
)
# Our API keys `gsp_<key id>_<secret>`: the key id stays (it names the key), the secret goes.
_API_KEY = re.compile(r"\b(gsp_[0-9a-f]{16}_)[A-Za-z0-9_-]+")
_WEBHOOK_SECRET = re.compile(r"\bwhsec_[A-Za-z0-9_-]+")
_AUTHORIZATION = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
# Credentials offered as WebSocket subprotocols (`grid.api-key.<key>`, `grid.access-token.<token>`).
_SUBPROTOCOL = re.compile(r"\b(grid\.(?:api-key|access-token|volunteer-token)\.)[A-Za-z0-9_.~-]+")


def redact(text: str) -> str:
    if not text:
        return text
    text = _SECRET_PARAMETER.sub(rf"\1{REDACTED}", text)
    text = _API_KEY.sub(rf"\1{REDACTED}", text)
    text = _WEBHOOK_SECRET.sub(f"whsec_{REDACTED}", text)
    text = _AUTHORIZATION.sub(rf"\1 {REDACTED}", text)
    return _SUBPROTOCOL.sub(rf"\1{REDACTED}", text)
