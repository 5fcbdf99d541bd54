"""A stand-in for Twilio's REST API on 127.0.0.1, speaking its documented protocol, for the adapter's tests.

`POST /2010-04-01/Accounts/{AccountSid}/Messages.json` and `.../Calls.json`, form-encoded, HTTP basic
authentication with the Account SID and Auth Token; `201 Created` with the new resource as JSON, or
Twilio's error body `{"code", "message", "more_info", "status"}`: 20003 for bad credentials (401), 21211
for an invalid `To`, 21606 for a `From` that is not the account's number, 21602 for a missing `Body`,
21205 for a call without `Twiml` or `Url`, 20429 when throttled and 20503 when unavailable (injected with
`fail_next`). It records what it accepted, so tests read what a person would have received.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
FAULTS = {
    429: (20429, "Too Many Requests"),
    500: (20500, "An internal server error has occurred"),
    503: (20503, "Service unavailable"),
}


@dataclass(frozen=True)
class Received:
    kind: str  # "sms" or "call"
    to: str
    sender: str
    text: str  # the Body, or the Twiml of a call
    sid: str


@dataclass
class TwilioStandIn:
    account_sid: str = field(default_factory=lambda: "AC" + secrets.token_hex(16))
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    number: str = "+15005550006"
    received: list[Received] = field(default_factory=list)
    faults: list[int] = field(default_factory=list)
    requests_seen: int = 0
    base_url: str = ""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def fail_next(self, count: int, status: int = 503) -> None:
        self.faults.extend([status] * count)

    def environment(self) -> dict[str, str]:
        """What a service needs to send through this stand-in (NOTIFY_SMS_GATEWAY=twilio)."""
        return {
            "NOTIFY_SMS_GATEWAY": "twilio",
            "TWILIO_ACCOUNT_SID": self.account_sid,
            "TWILIO_AUTH_TOKEN": self.auth_token,
            "TWILIO_FROM_NUMBER": self.number,
            "TWILIO_API_BASE_URL": self.base_url,
        }

    def to(self, phone: str) -> list[Received]:
        return [r for r in self.received if r.to == phone]

    async def wait_for(self, predicate: Callable[[Received], bool], within: float = 60.0, after: int = 0) -> Received:
        """The first message received after the `after` first ones that matches `predicate`, waiting up to
        `within` seconds for it to arrive."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            for message in self.received[after:]:
                if predicate(message):
                    return message
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                seen = [(m.to, m.text) for m in self.received]
                raise TimeoutError(f"no matching message within {within}s; received {seen}")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), min(remaining, 1.0))

    # -- the protocol ---------------------------------------------------------------------------
    def _error(self, status: int, code: int, message: str) -> JSONResponse:
        body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}"}
        return JSONResponse({**body, "status": status}, status_code=status)

    def _authenticated(self, request: Request, account_sid: str) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == account_sid == self.account_sid and secrets.compare_digest(password, self.auth_token)

    async def _create(self, request: Request) -> JSONResponse:
        self.requests_seen += 1
        account_sid, resource = request.path_params["account_sid"], request.path_params["resource"]
        if resource not in ("Messages", "Calls"):
            return self._error(404, 20404, "The requested resource was not found")
        if not self._authenticated(request, account_sid):
            return self._error(401, 20003, "Authenticate")
        if self.faults:
            status = self.faults.pop(0)
            return self._error(status, *FAULTS[status])
        form = await request.form()
        to, sender = str(form.get("To") or ""), str(form.get("From") or "")
        if not E164.match(to):
            return self._error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if sender != self.number:
            return self._error(400, 21606, "The From phone number provided is not a valid number for your account.")
        now = format_datetime(datetime.now(UTC), usegmt=True)
        if resource == "Messages":
            body = str(form.get("Body") or "")
            if not body:
                return self._error(400, 21602, "Message body is required.")
            sid, kind, text, extra = "SM" + secrets.token_hex(16), "sms", body, {"body": body, "status": "queued"}
        else:
            twiml = str(form.get("Twiml") or "")
            if not twiml and not form.get("Url"):
                return self._error(400, 21205, "Url or Twiml parameter is required.")
            sid, kind, text, extra = "CA" + secrets.token_hex(16), "call", twiml, {"status": "queued"}
        self.received.append(Received(kind, to, sender, text, sid))
        self.arrived.set()
        resource_body = {
            "sid": sid,
            "account_sid": account_sid,
            "to": to,
            "from": sender,
            "date_created": now,
            "date_updated": now,
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{account_sid}/{resource}/{sid}.json",
            **extra,
        }
        return JSONResponse(resource_body, status_code=201)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(
                    "/2010-04-01/Accounts/{account_sid}/{resource:str}.json",
                    self._create,
                    methods=["POST"],
                )
            ]
        )


@contextlib.asynccontextmanager
async def running_twilio() -> AsyncIterator[TwilioStandIn]:
    """The stand-in served on 127.0.0.1 at a free port, in the running event loop."""
    standin = TwilioStandIn()
    server = uvicorn.Server(uvicorn.Config(standin.app(), host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    standin.base_url = f"http://127.0.0.1:{port}"
    try:
        yield standin
    finally:
        server.should_exit = True
        await task
