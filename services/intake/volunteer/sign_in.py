"""Sign-in by phone and one-time code, and the session that follows: the use cases, over injected I/O.

* A code is sent only to a phone that belongs to an active volunteer, but the answer is the same either
  way, so the endpoint does not tell who is on the roster.
* Limits: codes per phone and per client address (token buckets in memory, shared.rate_limit), wrong
  guesses per code (counted in the code's document; the code is burned when they are spent), 5 minutes
  of validity, single use (the successful check deletes the code, and only the caller whose delete
  removed it gets a session).
* A session is a random token in an `HttpOnly`, `SameSite=Strict`, `Secure` cookie; the database holds
  only its SHA-256, with the volunteer and the expiry.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.intake.volunteer import codes
from services.intake.volunteer.settings import VolunteerPageSettings
from services.intake.volunteer.store import VolunteerPageStore
from shared.gateways import GatewayChannel, MessageGateway, SendFailed
from shared.masking import mask_phone
from shared.mongo import Document
from shared.rate_limit import RateLimiter

log = logging.getLogger(__name__)

WINDOW_SECONDS = 600.0
MESSAGES = {
    "zh": "【网格服务】您的登录验证码是 {code}，{minutes} 分钟内有效。请勿告诉他人。",
    "en": "[Grid Service] Your sign-in code is {code}. It expires in {minutes} minutes. Do not share it.",
}


class SignInRefused(Exception):
    def __init__(self, status: int, code: str, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.retry_after = status, code, detail, retry_after


@dataclass(frozen=True)
class Session:
    session_id: str  # the SHA-256 of the token, as stored
    volunteer_id: str
    district_id: str
    expires_at: datetime


@dataclass(frozen=True)
class NewSession:
    token: str  # for the browser's cookie, once; never stored
    session: Session


@dataclass
class SignIn:
    store: VolunteerPageStore
    gateway: MessageGateway
    settings: VolunteerPageSettings
    key: bytes
    gateway_allowed: bool = True
    per_phone: RateLimiter = field(init=False)
    per_address: RateLimiter = field(init=False)
    guesses_per_address: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.per_phone = RateLimiter(s.codes_per_phone / WINDOW_SECONDS, s.codes_per_phone)
        self.per_address = RateLimiter(s.codes_per_address / WINDOW_SECONDS, s.codes_per_address)
        # Guessing across many phones from one address: a few codes' worth of attempts per window.
        guesses = s.codes_per_address * s.attempts_per_code
        self.guesses_per_address = RateLimiter(guesses / WINDOW_SECONDS, guesses)

    def _limit(self, limiter: RateLimiter, caller: str, what: str) -> None:
        wait = limiter.retry_after(caller, time.monotonic())
        if wait:
            raise SignInRefused(429, "rate-limited", f"too many {what}; try again in {wait} s", retry_after=wait)

    async def send_code(self, phone: str, address: str, language: str) -> None:
        """Send a code if `phone` is an active volunteer's; the same answer for any phone."""
        if not self.gateway_allowed:
            raise SignInRefused(503, "no-sms-gateway", "no SMS gateway is configured for sign-in codes")
        self._limit(self.per_address, address, "codes from this address")
        self._limit(self.per_phone, phone, "codes for this phone")
        found = [v for v in await self.store.volunteers_with_phone(phone) if v.get("active", True)]
        if len(found) != 1:
            log.info("sign-in code not sent: %s is %s", mask_phone(phone), "shared" if found else "not a volunteer")
            return
        code = codes.new_code()
        now = datetime.now(UTC)
        await self.store.put_code(
            {
                "_id": codes.phone_key(self.key, phone),
                "code_hash": codes.code_hash(self.key, phone, code),
                "volunteer_id": found[0]["_id"],
                "district_id": found[0]["district_id"],
                "attempts": 0,
                "created_at": now,
                "expires_at": now + timedelta(minutes=self.settings.code_minutes),
            }
        )
        text = MESSAGES.get(language, MESSAGES["zh"]).format(code=code, minutes=self.settings.code_minutes)
        try:
            await self.gateway.send(channel=GatewayChannel.SMS, phone=phone, text=text, language=language)
        except SendFailed as exc:
            raise SignInRefused(503, "sms-failed", f"the code could not be sent: {exc}") from exc

    async def check_code(self, phone: str, code: str, address: str) -> NewSession:
        """A new session for the volunteer the code was sent to; SignInRefused otherwise."""
        self._limit(self.guesses_per_address, address, "attempts from this address")
        code_id = codes.phone_key(self.key, phone)
        stored = await self.store.code(code_id)
        wrong = SignInRefused(401, "wrong-code", "the code is wrong or has expired; ask for a new one")
        if stored is None:
            raise wrong
        expires_at = _aware(stored["expires_at"])
        if expires_at <= datetime.now(UTC) or int(stored.get("attempts", 0)) >= self.settings.attempts_per_code:
            await self.store.take_code(code_id)
            raise wrong
        if not codes.code_matches(self.key, phone, code, stored["code_hash"]):
            await self.store.count_wrong_guess(code_id)
            raise wrong
        if not await self.store.take_code(code_id):
            raise wrong  # someone else used it a moment ago: single use
        return await self.open_session(stored)

    async def open_session(self, code: Document) -> NewSession:
        token = codes.new_session_token()
        now = datetime.now(UTC)
        session = Session(
            codes.session_id(token),
            code["volunteer_id"],
            code["district_id"],
            now + timedelta(days=self.settings.session_days),
        )
        await self.store.create_session(
            {
                "_id": session.session_id,
                "volunteer_id": session.volunteer_id,
                "district_id": session.district_id,
                "created_at": now,
                "expires_at": session.expires_at,
            }
        )
        return NewSession(token, session)

    async def session(self, token: str | None) -> Session | None:
        if not token or len(token) > 200:
            return None
        session_id = codes.session_id(token)
        stored = await self.store.session(session_id)
        if stored is None:
            return None
        expires_at = _aware(stored["expires_at"])
        if expires_at <= datetime.now(UTC):
            await self.store.end_session(session_id)
            return None
        return Session(session_id, stored["volunteer_id"], stored["district_id"], expires_at)

    async def sign_out(self, token: str | None) -> None:
        if token:
            await self.store.end_session(codes.session_id(token))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
