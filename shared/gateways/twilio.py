"""Twilio Programmable Messaging (SMS) and Programmable Voice (a call reading the text aloud).

The documented REST API, version 2010-04-01, JSON representation:
- SMS: `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded `To`, `From`, `Body`;
- voice: `POST {base}/2010-04-01/Accounts/{AccountSid}/Calls.json`, form-encoded `To`, `From` and `Twiml`,
  a `<Response><Say>` document the call reads out;
- HTTP basic authentication with the Account SID and Auth Token;
- `201 Created` with the new resource (`sid`, `status`) on success; otherwise a JSON error
  `{"code": 21211, "message": "...", "more_info": "...", "status": 400}`.
A 429 (Twilio code 20429) or a 5xx is worth retrying; any other 4xx (an invalid number 21211, an
unsubscribed recipient 21610, bad credentials 20003) will fail the same way again.

Configured by environment (`TwilioSettings`); `TWILIO_API_BASE_URL` is overridable so that tests send
to a provider stand-in on 127.0.0.1, never to the internet.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.gateways.interface import GatewayChannel, SendFailed
from shared.masking import mask_phones_in

API_VERSION = "2010-04-01"
DEFAULT_BASE_URL = "https://api.twilio.com"
# <Say> language per message language; Twilio's basic voices speak Mandarin as zh-CN.
SAY_LANGUAGES = {"zh": "zh-CN", "en": "en-US"}
# Twilio refuses a Twiml parameter longer than this.
MAX_TWIML_CHARACTERS = 4000


class TwilioSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    account_sid: str = Field("", validation_alias="TWILIO_ACCOUNT_SID")
    auth_token: SecretStr = Field(SecretStr(""), validation_alias="TWILIO_AUTH_TOKEN")
    # The sending number in E.164 (or an alphanumeric sender id where the country allows one).
    sender: str = Field("", validation_alias="TWILIO_FROM_NUMBER")
    base_url: str = Field(DEFAULT_BASE_URL, validation_alias="TWILIO_API_BASE_URL")
    timeout_seconds: float = Field(10.0, gt=0, validation_alias="TWILIO_TIMEOUT_SECONDS")

    def missing(self) -> list[str]:
        names = {"TWILIO_ACCOUNT_SID": self.account_sid, "TWILIO_AUTH_TOKEN": self.auth_token.get_secret_value()}
        names["TWILIO_FROM_NUMBER"] = self.sender
        return [name for name, value in names.items() if not value]


def say_document(text: str, language: str) -> str:
    """The TwiML a voice call reads: the text once, a pause, and the text again for who missed it."""
    lang = SAY_LANGUAGES.get(language, SAY_LANGUAGES["zh"])
    said = f'<Say language="{lang}">{escape(text)}</Say>'
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{said}<Pause length="1"/>{said}</Response>'


def request_of(
    channel: GatewayChannel, *, sender: str, phone: str, text: str, language: str
) -> tuple[str, dict[str, str]]:
    """The resource path (under the account) and the form fields of one message."""
    if channel is GatewayChannel.VOICE:
        twiml = say_document(text, language)
        if len(twiml) > MAX_TWIML_CHARACTERS:
            raise SendFailed(f"voice text too long for one call ({len(twiml)} TwiML characters)", retryable=False)
        return "Calls.json", {"To": phone, "From": sender, "Twiml": twiml}
    return "Messages.json", {"To": phone, "From": sender, "Body": text}


def failure_of(status: int, body: Any) -> SendFailed:
    """Twilio's error body as a SendFailed: retry throttling and server errors, not refusals."""
    error = body if isinstance(body, dict) else {}
    code = error.get("code")
    message = mask_phones_in(str(error.get("message") or "no error message"))[:300]
    retryable = status == 429 or status >= 500
    return SendFailed(f"twilio {status} code {code}: {message}", retryable=retryable)


class TwilioGateway:
    """One shared HTTP client; each send is one POST, and its answer decides sent or failed."""

    def __init__(self, settings: TwilioSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        missing = settings.missing()
        if missing:
            raise ValueError(f"the twilio SMS gateway needs {', '.join(missing)}")
        self._settings = settings
        self._account_url = f"{settings.base_url.rstrip('/')}/{API_VERSION}/Accounts/{settings.account_sid}"
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                auth=(self._settings.account_sid, self._settings.auth_token.get_secret_value()),
                timeout=self._settings.timeout_seconds,
                transport=self._transport,
                headers={"Accept": "application/json"},
            )
        return self._client

    async def send(self, *, channel: GatewayChannel, phone: str, text: str, language: str) -> None:
        resource, form = request_of(channel, sender=self._settings.sender, phone=phone, text=text, language=language)
        try:
            response = await self._http().post(f"{self._account_url}/{resource}", data=form)
        except httpx.HTTPError as exc:
            raise SendFailed(f"twilio unreachable: {type(exc).__name__}", retryable=True) from exc
        if response.status_code in (200, 201):
            return
        try:
            body = response.json()
        except ValueError:
            body = None
        raise failure_of(response.status_code, body)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
