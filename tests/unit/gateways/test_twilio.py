"""The Twilio adapter's pure parts: the request signature, the form of each message, how errors are read."""

from __future__ import annotations

import pytest

from shared.gateways import GatewayChannel, LogOnlyGateway, gateway_for
from shared.gateways.twilio import TwilioGateway, TwilioSettings, failure_of, request_of, say_document
from shared.gateways.twilio_signature import signature_valid, twilio_signature

# The worked example of Twilio's security documentation (the URL, the POST fields and Auth Token 12345).
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
SENDER = "+15005550006"


class TestSignature:
    def test_the_documented_example(self) -> None:
        assert twilio_signature("12345", DOC_URL, DOC_PARAMS.items()) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="

    def test_order_of_fields_does_not_matter_but_every_byte_does(self) -> None:
        signature = twilio_signature("12345", DOC_URL, DOC_PARAMS.items())
        assert signature_valid("12345", DOC_URL, reversed(list(DOC_PARAMS.items())), signature)
        assert not signature_valid("12345", DOC_URL, [*DOC_PARAMS.items(), ("Body", "1")], signature)
        assert not signature_valid("12345", DOC_URL.replace("https", "http"), DOC_PARAMS.items(), signature)
        assert not signature_valid("other", DOC_URL, DOC_PARAMS.items(), signature)
        assert not signature_valid("12345", DOC_URL, DOC_PARAMS.items(), None)
        assert not signature_valid("", DOC_URL, DOC_PARAMS.items(), twilio_signature("", DOC_URL, DOC_PARAMS.items()))


class TestRequests:
    def test_sms_is_a_message_with_a_body(self) -> None:
        path, form = request_of(GatewayChannel.SMS, sender=SENDER, phone="+8613800001234", text="您好", language="zh")
        assert path == "Messages.json"
        assert form == {"To": "+8613800001234", "From": "+15005550006", "Body": "您好"}

    def test_voice_is_a_call_that_says_the_text_twice_in_the_language(self) -> None:
        path, form = request_of(GatewayChannel.VOICE, sender=SENDER, phone="+8613800001234", text="a<b", language="zh")
        assert path == "Calls.json" and set(form) == {"To", "From", "Twiml"}
        assert form["Twiml"].count('<Say language="zh-CN">a&lt;b</Say>') == 2
        assert say_document("hello", "en").count('language="en-US"') == 2


class TestErrors:
    @pytest.mark.parametrize(
        ("status", "code", "retryable"),
        [(429, 20429, True), (500, 20500, True), (503, 20503, True), (400, 21211, False), (401, 20003, False)],
    )
    def test_throttling_and_outages_are_retried_refusals_are_not(self, status: int, code: int, retryable: bool) -> None:
        message = "The 'To' number +8613800001234 is not valid"
        failure = failure_of(status, {"code": code, "message": message, "status": status})
        assert failure.retryable is retryable
        assert str(code) in str(failure) and "13800001234" not in str(failure)  # numbers masked in logs

    def test_a_body_that_is_not_json_is_still_a_failure(self) -> None:
        assert failure_of(502, None).retryable


class TestRegistry:
    def test_log_and_twilio_by_name(self, monkeypatch: pytest.MonkeyPatch) -> None:
        assert isinstance(gateway_for("log"), LogOnlyGateway)
        monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
        monkeypatch.setenv("TWILIO_AUTH_TOKEN", "secret")
        monkeypatch.setenv("TWILIO_FROM_NUMBER", "+15005550006")
        assert isinstance(gateway_for("twilio"), TwilioGateway)
        with pytest.raises(ValueError, match="unknown SMS gateway"):
            gateway_for("pigeon")

    def test_twilio_refuses_to_start_half_configured(self) -> None:
        with pytest.raises(ValueError, match="TWILIO_AUTH_TOKEN"):
            TwilioGateway(TwilioSettings(TWILIO_ACCOUNT_SID="AC1", TWILIO_FROM_NUMBER="+15005550006"))
