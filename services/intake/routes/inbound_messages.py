"""The SMS provider's inbound-message webhook: volunteers answer offers and residents rate by texting a digit.

Twilio POSTs each text sent to our number (form fields `From`, `Body`, `MessageSid`, ...) and signs the
request with X-Twilio-Signature (`shared.gateways.twilio_signature`), computed over the URL it was
configured with: `INTAKE_SMS_WEBHOOK_URL`, by default `INTAKE_PUBLIC_URL` + this path. A request without a
valid signature is refused (403): it does not come from the provider. Every signed request gets 200 and a
TwiML `<Message>` texted back to the sender: a confirmation, or help when the reply could not be used.

A reply is matched to the latest open prompt for the sender's phone (`reply_prompts`, by `_id`, written by
notify) and published as the command it stands for through intake's usual path (the same permission check
and `handlers.publish_command`, idempotent on the provider's MessageSid, so the provider's retry of one
text is one command). Dispatch then decides as for any other caller.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Final
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.intake import handlers
from services.intake.auth import Ctx
from services.intake.context import IntakeContext
from services.intake.permissions import check_command
from services.intake.problems import Problem
from services.intake.sms_replies import REFUSALS, Answer, Intent, Prompt, digit_of, intent_of, open_at, text_of
from shared.api_keys import Role
from shared.contracts import commands as c
from shared.contracts.commands import Actor
from shared.gateways.twilio import TwilioSettings
from shared.gateways.twilio_signature import SIGNATURE_HEADER, signature_valid
from shared.kafka import BrokerUnavailable
from shared.masking import mask_phone
from shared.phone_numbers import InvalidPhoneNumber, normalise
from shared.problem_details import PROBLEM_JSON, PROBLEM_SCHEMA

log = logging.getLogger(__name__)
router = APIRouter(tags=["inbound messages"])
TWILIO_PATH: Final = "/v1/inbound/sms/twilio"
TWIML: Final = "application/xml"
REFUSED: Final[dict[int | str, dict[str, object]]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}
    for status, text in (
        (400, "Not a form-encoded body"),
        (403, "Not signed by the SMS provider (X-Twilio-Signature)"),
        (404, "Inbound SMS is not enabled on this deployment"),
    )
}


class InboundSmsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    webhook_url: str = Field("", validation_alias="INTAKE_SMS_WEBHOOK_URL")


class InboundConfiguration(BaseModel):
    url: str
    auth_token: str


def configuration(request: Request, ctx: IntakeContext) -> InboundConfiguration:
    """Read once per app from the environment: the URL Twilio signs and the Auth Token it signs with."""
    found: InboundConfiguration | None = getattr(request.app.state, "inbound_sms", None)
    if found is None:
        url = InboundSmsSettings().webhook_url or ctx.public_url.rstrip("/") + TWILIO_PATH
        found = InboundConfiguration(url=url, auth_token=TwilioSettings().auth_token.get_secret_value())
        request.app.state.inbound_sms = found
    return found


def twiml(text: str) -> Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(text)}</Message></Response>'
    return Response(body, media_type=TWIML)


def prompt_of(document: dict[str, object] | None) -> Prompt | None:
    if document is None:
        return None
    expires = document.get("expires_at")
    return Prompt(
        district_id=str(document.get("district_id") or ""),
        request_id=str(document.get("request_id") or ""),
        kind=str(document.get("kind") or ""),
        volunteer_id=str(document["volunteer_id"]) if document.get("volunteer_id") else None,
        language=str(document.get("language") or "zh"),
        expires_at=_aware(expires),
    )


def _aware(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@router.post(
    TWILIO_PATH,
    summary="Twilio's inbound SMS webhook (signed with X-Twilio-Signature); answers TwiML",
    response_class=Response,
    responses={200: {"content": {TWIML: {}}, "description": "TwiML with the text sent back"}, **REFUSED},
)
async def twilio_inbound_sms(request: Request, ctx: Ctx) -> Response:
    config = configuration(request, ctx)
    if not config.auth_token:
        raise Problem(404, "Not found", "inbound SMS is not enabled here (TWILIO_AUTH_TOKEN)", code="inbound-sms-off")
    try:
        form = await request.form()
    except Exception as exc:  # a malformed multipart body: Twilio only sends application/x-www-form-urlencoded
        raise Problem(400, "Bad request", "expected a form-encoded body", code="bad-form") from exc
    params = [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
    if not signature_valid(config.auth_token, config.url, params, request.headers.get(SIGNATURE_HEADER)):
        raise Problem(403, "Forbidden", "the request is not signed by the SMS provider", code="bad-signature")
    fields = dict(params)
    try:
        phone = normalise(fields.get("From", ""))
    except InvalidPhoneNumber:
        return twiml(text_of(Answer.NO_PROMPT, "zh"))
    prompt = prompt_of(await ctx.repository.reply_prompt(phone))
    if prompt is None or not open_at(prompt, datetime.now(UTC)):
        return twiml(text_of(Answer.NO_PROMPT, prompt.language if prompt else "zh"))
    decided = intent_of(prompt, digit_of(fields.get("Body", "")))
    if isinstance(decided, Answer):
        return twiml(text_of(decided, prompt.language))
    answer = await publish_reply(ctx, prompt, decided, phone=phone, message_id=fields.get("MessageSid") or None)
    log.info(
        "sms reply from %s to %s: %s",
        mask_phone(phone),
        prompt.request_id,
        answer.value,
        extra={"district_id": prompt.district_id},
    )
    return twiml(text_of(answer, prompt.language))


async def publish_reply(
    ctx: IntakeContext, prompt: Prompt, intent: Intent, *, phone: str, message_id: str | None
) -> Answer:
    """Check the command as for any caller, publish it, and say how it went."""
    district_id, request_id = prompt.district_id, prompt.request_id
    document = await ctx.repository.request(district_id, request_id)
    if prompt.volunteer_id:
        role, subject = Role.VOLUNTEER, prompt.volunteer_id
        actor = Actor(role="volunteer", subject=subject)
    else:
        # The text came from the phone the prompt was sent to: it stands for the resident's access token.
        role, subject, actor = Role.CLIENT_APP, "sms", handlers.resident_actor(phone, "sms")
    refusal = check_command(intent.command_type, role=role, subject=subject, request=document, resident_token_ok=True)
    if refusal is not None:
        return REFUSALS.get(refusal.code, Answer.NO_PROMPT)
    payload: c.Command
    if intent.command_type == c.OFFER_ACCEPT:
        payload = c.AcceptOfferV1(actor=actor, volunteer_id=subject, reason="accepted by SMS")
    elif intent.command_type == c.OFFER_DECLINE:
        payload = c.DeclineOfferV1(actor=actor, volunteer_id=subject, reason="declined by SMS")
    elif intent.command_type == c.CARE_CONFIRM_CHECK_IN:
        payload = c.ConfirmCheckInV1(actor=actor, note="I'm fine (SMS)")
    elif intent.command_type == c.REQUEST_RATE:
        payload = c.RateRequestV1(actor=actor, stars=intent.stars or 0, comment="")
    else:
        payload = c.ReportNotDoneV1(actor=actor, reason="reported not done by SMS")
    try:
        await handlers.publish_command(
            ctx,
            district_id=district_id,
            request_id=request_id,
            command_type=intent.command_type,
            payload=payload,
            idempotency_key=message_id,
            api_key_id=f"sms:{phone}",
        )
    except BrokerUnavailable:
        return Answer.TRY_LATER
    except Problem:
        # The same MessageSid with another body: not the provider's retry; say nothing more than help.
        return Answer.NO_PROMPT
    return intent.answer
