"""W3C trace context carried from an HTTP request through Kafka headers to every consumer.

The current trace lives in a context variable: intake sets it per HTTP request, the consumer loop sets
it from the `traceparent` header of each event, the publisher copies it onto every event it sends,
and the JSON log formatter writes it on every line. No tracing backend is needed to follow a request.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar, Token
from dataclasses import dataclass

TRACEPARENT_HEADER = "traceparent"
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True)
class TraceContext:
    trace_id: str
    span_id: str

    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-01"

    def child(self) -> TraceContext:
        return TraceContext(self.trace_id, secrets.token_hex(8))


_current: ContextVar[TraceContext | None] = ContextVar("trace_context", default=None)


def new_trace() -> TraceContext:
    return TraceContext(secrets.token_hex(16), secrets.token_hex(8))


def parse_traceparent(value: str | bytes | None) -> TraceContext | None:
    if value is None:
        return None
    text = value.decode(errors="replace") if isinstance(value, bytes) else value
    match = _TRACEPARENT.match(text.strip().lower())
    if match is None or set(match.group(1)) == {"0"}:
        return None
    return TraceContext(match.group(1), match.group(2))


def current() -> TraceContext | None:
    return _current.get()


def activate(context: TraceContext | None) -> Token[TraceContext | None]:
    return _current.set(context)


def deactivate(token: Token[TraceContext | None]) -> None:
    _current.reset(token)


def continue_from_headers(headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...] | None) -> TraceContext:
    """The trace an incoming event belongs to (a child span of it), or a new trace when it carries none."""
    for name, value in headers or ():
        if name == TRACEPARENT_HEADER:
            parent = parse_traceparent(value)
            if parent is not None:
                return parent.child()
    return new_trace()
