"""Who may open which stream: resident by access token, volunteer and operator by API key, same keys as intake."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Path
from fastapi.responses import Response
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from services.notify.bootstrap import NotifyContext
from services.notify.domain.audiences import DistrictScope, RequestScope, Scope, VolunteerScope
from shared import volunteer_stream_tokens
from shared.api_keys import ApiKeyRepository, Principal, Role
from shared.problem_details import problem_response
from shared.request_ids import issued_by_us, valid_access_token
from shared.volunteer_stream_tokens import StreamGrant

OPERATOR_ROLES = frozenset({Role.OPERATOR, Role.DISTRICT_ADMIN, Role.PLATFORM_ADMIN})
# District admins manage every webhook of their district; a client app only those it registered itself.
WEBHOOK_ADMIN_ROLES = frozenset({Role.DISTRICT_ADMIN, Role.PLATFORM_ADMIN})
WEBHOOK_ROLES = WEBHOOK_ADMIN_ROLES | {Role.CLIENT_APP}


class Denied(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


# WebSocket clients (browsers cannot set headers there) offer credentials as subprotocols instead of in
# the URL, where proxies and servers log them: `Sec-WebSocket-Protocol: grid.v1, grid.api-key.<key>`.
WS_PROTOCOL = "grid.v1"
API_KEY_PROTOCOL = "grid.api-key."
ACCESS_TOKEN_PROTOCOL = "grid.access-token."
VOLUNTEER_TOKEN_PROTOCOL = "grid.volunteer-token."


def offered_protocols(connection: HTTPConnection) -> list[str]:
    header = connection.headers.get("sec-websocket-protocol", "")
    return [part.strip() for part in header.split(",") if part.strip()]


def _from_protocols(connection: HTTPConnection, prefix: str) -> str | None:
    for protocol in offered_protocols(connection):
        if protocol.startswith(prefix) and len(protocol) > len(prefix):
            return protocol[len(prefix) :]
    return None


def api_key_of(connection: HTTPConnection) -> str | None:
    """`Authorization: Bearer`, `X-API-Key`, a WebSocket subprotocol, or last `?api_key=` (EventSource
    cannot send anything else; the logs redact it, but a URL with a secret still travels through proxies)."""
    authorization = connection.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return (
        connection.headers.get("x-api-key")
        or _from_protocols(connection, API_KEY_PROTOCOL)
        or connection.query_params.get("api_key")
    )


def volunteer_stream_grant(connection: HTTPConnection, signing_keys: Sequence[bytes]) -> StreamGrant | None:
    """The volunteer page's stream token (shared.volunteer_stream_tokens), offered as a WebSocket subprotocol
    or, for EventSource, `?token=`; None when absent or not genuine (then an API key is required)."""
    token = _from_protocols(connection, VOLUNTEER_TOKEN_PROTOCOL) or connection.query_params.get("token")
    return volunteer_stream_tokens.verify(signing_keys, token) if token else None


async def principal(connection: HTTPConnection, keys: ApiKeyRepository, roles: frozenset[Role]) -> Principal:
    plaintext = api_key_of(connection)
    if not plaintext:
        raise Denied(401, "unauthenticated", "an API key is required")
    found = await keys.authenticate(plaintext)
    if found is None:
        raise Denied(401, "unauthenticated", "the API key is unknown or revoked")
    if found.role not in roles:
        raise Denied(403, "forbidden", f"role {found.role.value} may not use this endpoint")
    return found


async def district_principal(
    connection: HTTPConnection, keys: ApiKeyRepository, roles: frozenset[Role], district_id: str
) -> Principal:
    found = await principal(connection, keys, roles)
    if not found.can_see(district_id):
        # The same answer as an unknown district: a key never learns what other districts exist.
        raise Denied(404, "not-found", f"no district {district_id!r}")
    return found


async def webhook_manager(connection: HTTPConnection, keys: ApiKeyRepository, district_id: str) -> str | None:
    """Authorise a webhook route: return the key id the caller is limited to, or None for an admin.

    Every webhook route goes through here and passes the answer to every repository call, so a client
    app's key reaches another's endpoint (or an admin's) nowhere: it reads as 404, as if absent.
    """
    found = await district_principal(connection, keys, WEBHOOK_ROLES, district_id)
    return None if found.role in WEBHOOK_ADMIN_ROLES else found.key_id


def access_token_of(connection: HTTPConnection) -> str | None:
    return (
        connection.headers.get("x-access-token")
        or _from_protocols(connection, ACCESS_TOKEN_PROTOCOL)
        or connection.query_params.get("access_token")
    )


async def resident_district(
    connection: HTTPConnection,
    *,
    signing_keys: tuple[bytes, ...],
    request_id: str,
    district_id: str | None,
    districts: Callable[[], Awaitable[tuple[str, ...]]],
) -> str:
    """Check the request's access token and return the request's district."""
    token = access_token_of(connection)
    if not token:
        raise Denied(401, "unauthenticated", "the request's access_token is required")
    if not valid_access_token(signing_keys, request_id, token):
        raise Denied(401, "unauthenticated", "the access token does not match this request")
    if district_id is not None:
        if not issued_by_us(signing_keys, district_id, request_id):
            raise Denied(404, "not-found", "no such request in this district")
        return district_id
    # The request id's tag names its district: try each district we know (reference data, cached).
    for known in await districts():
        if issued_by_us(signing_keys, known, request_id):
            return known
    raise Denied(404, "not-found", "no such request")


# --- the same checks as FastAPI dependencies: a route names who may call it, and never catches Denied ---------

DistrictId = Annotated[str, Path(min_length=1, max_length=63)]
RequestId = Annotated[str, Path(min_length=1, max_length=100)]


async def context(connection: HTTPConnection) -> NotifyContext:
    found: NotifyContext = connection.app.state.notify
    return found


Ctx = Annotated[NotifyContext, Depends(context)]


@dataclass(frozen=True)
class Audience:
    """Who a stream is for: the district it reads and the part of it the caller may see."""

    district_id: str
    scope: Scope


async def resident_audience(
    connection: HTTPConnection, ctx: NotifyContext, request_id: str, district_id: str | None
) -> Audience:
    found = await resident_district(
        connection,
        signing_keys=ctx.signing_keys,
        request_id=request_id,
        district_id=district_id,
        districts=ctx.district_ids,
    )
    return Audience(found, RequestScope(request_id))


async def resident_in_district(
    connection: HTTPConnection, ctx: Ctx, district_id: DistrictId, request_id: RequestId
) -> Audience:
    return await resident_audience(connection, ctx, request_id, district_id)


async def volunteer_caller(connection: HTTPConnection, ctx: Ctx) -> Principal:
    found = await principal(connection, ctx.keys, frozenset({Role.VOLUNTEER}))
    assert found.district_id is not None  # a volunteer's key always belongs to one district
    return found


async def volunteer_audience(connection: HTTPConnection, ctx: NotifyContext) -> Audience:
    grant = volunteer_stream_grant(connection, ctx.signing_keys)  # the phone page's token (intake mints it)
    if grant is not None:
        return Audience(grant.district_id, VolunteerScope(grant.volunteer_id))
    caller = await volunteer_caller(connection, ctx)
    assert caller.district_id is not None
    return Audience(caller.district_id, VolunteerScope(caller.subject))


async def operator_audience(
    connection: HTTPConnection, ctx: NotifyContext, district_id: str, scope: DistrictScope
) -> Audience:
    await district_principal(connection, ctx.keys, OPERATOR_ROLES, district_id)
    return Audience(district_id, scope)


async def webhook_creator(connection: HTTPConnection, ctx: Ctx, district_id: DistrictId) -> Principal:
    return await district_principal(connection, ctx.keys, WEBHOOK_ROLES, district_id)


async def webhook_owner(connection: HTTPConnection, ctx: Ctx, district_id: DistrictId) -> str | None:
    return await webhook_manager(connection, ctx.keys, district_id)


ResidentInDistrict = Annotated[Audience, Depends(resident_in_district)]
VolunteerCaller = Annotated[Principal, Depends(volunteer_caller)]
WebhookCreator = Annotated[Principal, Depends(webhook_creator)]
# The key id a webhook caller is limited to, or None for an admin: passed to every repository call.
WebhookOwner = Annotated[str | None, Depends(webhook_owner)]


async def _answer_denied(connection: HTTPConnection, denied: Exception) -> Response | None:
    assert isinstance(denied, Denied)
    if isinstance(connection, WebSocket):
        # Before the handshake is accepted: the client sees the refusal, and 4000 + status says why.
        await connection.close(code=4000 + denied.status, reason=denied.detail[:120])
        return None
    return problem_response(denied.status, denied.code, denied.detail, code=denied.code)


def install_denied_handler(app: FastAPI) -> None:
    """A Denied raised by any dependency or route answers as problem details (or closes the WebSocket)."""
    app.add_exception_handler(Denied, _answer_denied)  # type: ignore[arg-type]
