"""Response headers that make browsers refuse what our pages never do: sniffing, framing, foreign scripts.

Every service sends `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer` (URLs of notify's
streams may carry a token, which must not leak to another site as a referrer). The console's page also
gets a strict Content-Security-Policy (only its own scripts, styles and connections; no inline code; no
framing, with `X-Frame-Options` for older browsers). FastAPI's /docs pages load Swagger UI from a CDN,
so they are left out of the CSP.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BASELINE: dict[str, str] = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
CONSOLE_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS: dict[str, str] = {"Content-Security-Policy": CONSOLE_CSP, "X-Frame-Options": "DENY"}
DOCS_PATHS = ("/docs", "/redoc")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, page_headers: dict[str, str] | None = None) -> None:
        self.app = app
        self.baseline = [(name.lower().encode(), value.encode()) for name, value in BASELINE.items()]
        self.page = [(name.lower().encode(), value.encode()) for name, value in (page_headers or {}).items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = self.baseline + ([] if str(scope.get("path", "")).startswith(DOCS_PATHS) else self.page)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in added if name not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
