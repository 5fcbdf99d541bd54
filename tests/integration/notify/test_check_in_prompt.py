"""A scheduled check-in's prompt on the real database (docs/care.md): notify texts the resident "reply 1 if
you are well" and opens a reply prompt of kind `check_in` until the check-in's window ends, which intake's
inbound SMS webhook answers with `care.confirm_check_in`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pymongo.asynchronous.database import AsyncDatabase

from services.notify.messaging import PushNotifier
from shared.contracts import status as s
from shared.mongo import Document
from tests.integration.notify.test_messages_by_default import a_request, event, notifier, phone, twilio
from tests.twilio_standin import TwilioStandIn

__all__ = ["notifier", "twilio"]  # the fixtures, shared with the messages-by-default tests


async def test_the_resident_is_asked_to_reply_1_until_the_window_ends(
    db: AsyncDatabase[Document], notifier: PushNotifier, twilio: TwilioStandIn
) -> None:
    mobile = phone()
    request_id = await a_request(db, {"name": "王秀英", "phone": mobile, "language": "zh"}, None)
    window_end = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    detail = {"window_start": datetime.now(UTC).isoformat(), "window_end": window_end.isoformat()}

    await notifier.notify(event(request_id, s.CARE_CHECK_IN_DUE, 2, detail=detail))

    assert [m.text for m in twilio.to(mobile)] == ["您好！社区问候您：今天身体好吗？一切安好请回复1。"]
    prompt = await db.reply_prompts.find_one({"_id": mobile})
    assert prompt is not None and (prompt["kind"], prompt["request_id"]) == ("check_in", request_id)
    expires_at = (
        prompt["expires_at"].replace(tzinfo=UTC) if prompt["expires_at"].tzinfo is None else prompt["expires_at"]
    )
    assert abs(expires_at - window_end) < timedelta(seconds=5)


async def test_a_check_in_closing_after_im_fine_is_not_told_to_the_resident(
    db: AsyncDatabase[Document], notifier: PushNotifier, twilio: TwilioStandIn
) -> None:
    mobile = phone()
    request_id = await a_request(db, {"name": "王秀英", "phone": mobile, "language": "zh"}, None)
    await notifier.notify(event(request_id, s.REQUEST_CANCELLED, 3, detail={"tell_resident": False}))
    await notifier.notify(event(request_id, s.REQUEST_CANCELLED, 4))  # any other cancellation is told
    assert [m.text for m in twilio.to(mobile)] == ["您的求助（代购米面油）已取消。"]
