"""The Twilio adapter against a stand-in on 127.0.0.1 that speaks Twilio's documented REST protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.gateways import GatewayChannel, SendFailed
from shared.gateways.twilio import TwilioGateway, TwilioSettings
from tests.twilio_standin import TwilioStandIn, running_twilio

pytestmark = pytest.mark.integration


@pytest.fixture
async def twilio() -> AsyncIterator[TwilioStandIn]:
    async with running_twilio() as standin:
        yield standin


def gateway(standin: TwilioStandIn, **overrides: str) -> TwilioGateway:
    env = {**standin.environment(), **overrides}
    return TwilioGateway(TwilioSettings(**env))  # type: ignore[arg-type]


async def test_an_sms_arrives_as_a_message_resource(twilio: TwilioStandIn) -> None:
    sender = gateway(twilio)
    text = "您好！志愿者建国已接单。"
    await sender.send(channel=GatewayChannel.SMS, phone="+8613800001234", text=text, language="zh")
    await sender.close()
    [message] = twilio.to("+8613800001234")
    assert message.kind == "sms" and message.text == "您好！志愿者建国已接单。" and message.sid.startswith("SM")


async def test_a_voice_message_is_a_call_that_says_the_text(twilio: TwilioStandIn) -> None:
    sender = gateway(twilio)
    text = "您好，这里是社区服务。"
    await sender.send(channel=GatewayChannel.VOICE, phone="+8613800001235", text=text, language="zh")
    await sender.close()
    [call] = twilio.to("+8613800001235")
    assert call.kind == "call" and '<Say language="zh-CN">您好，这里是社区服务。</Say>' in call.text


async def test_wrong_credentials_are_refused_and_not_worth_retrying(twilio: TwilioStandIn) -> None:
    sender = gateway(twilio, TWILIO_AUTH_TOKEN="not-the-token")
    with pytest.raises(SendFailed, match="20003") as refused:
        await sender.send(channel=GatewayChannel.SMS, phone="+8613800001234", text="x", language="zh")
    await sender.close()
    assert refused.value.retryable is False and twilio.received == []


async def test_an_invalid_number_is_refused_for_good(twilio: TwilioStandIn) -> None:
    sender = gateway(twilio)
    with pytest.raises(SendFailed, match="21211") as refused:
        await sender.send(channel=GatewayChannel.SMS, phone="+86123", text="x", language="zh")
    await sender.close()
    assert refused.value.retryable is False


@pytest.mark.parametrize("status", [429, 503])
async def test_throttling_and_outages_are_worth_retrying(twilio: TwilioStandIn, status: int) -> None:
    twilio.fail_next(1, status)
    sender = gateway(twilio)
    with pytest.raises(SendFailed) as failed:
        await sender.send(channel=GatewayChannel.SMS, phone="+8613800001234", text="x", language="zh")
    assert failed.value.retryable is True
    await sender.send(channel=GatewayChannel.SMS, phone="+8613800001234", text="again", language="zh")
    await sender.close()
    assert [m.text for m in twilio.received] == ["again"]


async def test_an_unreachable_provider_is_worth_retrying(twilio: TwilioStandIn) -> None:
    sender = gateway(twilio, TWILIO_API_BASE_URL="http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(SendFailed, match="unreachable") as failed:
        await sender.send(channel=GatewayChannel.SMS, phone="+8613800001234", text="x", language="zh")
    await sender.close()
    assert failed.value.retryable is True
