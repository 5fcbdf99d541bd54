"""What a digit texted back means, and what we text back: pure rules of intake's inbound-SMS webhook.

A volunteer answers an offer with 1 (accept) or 2 (decline); a resident (or their proxy) answers a
rating prompt with 1–5 stars, or 0 for "not done", and a scheduled check-in with 1 ("I'm fine"). The
reply is read as people type it: full-width digits, spaces and a trailing full stop are fine. Anything
else gets a helpful answer in the language of the prompt, never an error.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from shared.contracts import commands as c


class Answer(StrEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"
    RATED = "rated"
    NOT_DONE = "not_done"
    OFFER_HELP = "offer_help"
    RATING_HELP = "rating_help"
    NO_PROMPT = "no_prompt"
    OFFER_CLOSED = "offer_closed"
    ALREADY_RATED = "already_rated"
    NOT_RESOLVED = "not_resolved"
    TRY_LATER = "try_later"
    CHECKED_IN = "checked_in"
    CHECK_IN_HELP = "check_in_help"


ANSWERS: Final[dict[Answer, dict[str, str]]] = {
    # Dispatch confirms (or finds another volunteer was first): notify's assignment text follows.
    Answer.ACCEPTED: {
        "zh": "收到，正在为您确认接单，稍后短信告诉您。",
        "en": "Got it. We are confirming the request for you; a text will follow.",
    },
    Answer.DECLINED: {"zh": "收到，这单我们另找人。谢谢！", "en": "Got it, we will ask someone else. Thank you!"},
    Answer.RATED: {"zh": "收到，谢谢您的评价！", "en": "Got it, thank you for your rating!"},
    Answer.NOT_DONE: {"zh": "收到，谢谢您告诉我们。", "en": "Got it, thank you for telling us."},
    Answer.OFFER_HELP: {"zh": "请回复1接单，或回复2不接。", "en": "Please reply 1 to accept, or 2 to decline."},
    Answer.RATING_HELP: {
        "zh": "请回复1到5打分，5分最满意；没办好请回复0。",
        "en": "Please reply 1 to 5 to rate, 5 is best; reply 0 if it was not done.",
    },
    Answer.NO_PROMPT: {
        "zh": "您好，现在没有需要您回复的消息。需要帮助请打社区电话。",
        "en": "Hello, there is nothing to reply to right now. For help, please call your community.",
    },
    Answer.OFFER_CLOSED: {
        "zh": "这单已经不用您回复了，谢谢！",
        "en": "This request no longer needs your reply. Thank you!",
    },
    Answer.ALREADY_RATED: {"zh": "这项求助已经评过分了，谢谢！", "en": "This request was already rated. Thank you!"},
    Answer.NOT_RESOLVED: {
        "zh": "这项求助还没办完，办好后我们再请您打分。",
        "en": "This request is not finished yet. We will ask for your rating when it is done.",
    },
    Answer.CHECKED_IN: {"zh": "收到，知道您一切安好，谢谢！", "en": "Got it, glad you are well. Thank you!"},
    Answer.CHECK_IN_HELP: {
        "zh": "一切安好请回复1；需要帮助请打社区电话。",
        "en": "Reply 1 if you are well; if you need help, please call your community.",
    },
    Answer.TRY_LATER: {
        "zh": "系统忙，请过几分钟再回复一次。",
        "en": "We are busy. Please send your reply again in a few minutes.",
    },
}

# Why intake's command check refused (services/intake/permissions.py), as an answer a person understands.
REFUSALS: Final[dict[str, Answer]] = {
    "not-your-offer": Answer.OFFER_CLOSED,
    "already-rated": Answer.ALREADY_RATED,
    "not-resolved": Answer.NOT_RESOLVED,
}

_TRAILING: Final = " .。!！"


def digit_of(body: str) -> int | None:
    """The single digit a reply consists of ('1', '１', ' 5。'), or None."""
    text = unicodedata.normalize("NFKC", body).strip().rstrip(_TRAILING).strip()
    return int(text) if len(text) == 1 and text.isascii() and text.isdigit() else None


@dataclass(frozen=True)
class Prompt:
    district_id: str
    request_id: str
    kind: str  # "offer", "rating" or "check_in" (CONTRACTS B)
    volunteer_id: str | None
    language: str
    expires_at: datetime | None


@dataclass(frozen=True)
class Intent:
    """A command to publish for a reply, with the answer to text back once it is accepted."""

    command_type: str
    answer: Answer
    stars: int | None = None


def intent_of(prompt: Prompt, digit: int | None) -> Intent | Answer:
    """The command a reply asks for, or the help to text back when it asks for none."""
    if prompt.kind == "offer":
        if prompt.volunteer_id and digit == 1:
            return Intent(c.OFFER_ACCEPT, Answer.ACCEPTED)
        if prompt.volunteer_id and digit == 2:
            return Intent(c.OFFER_DECLINE, Answer.DECLINED)
        return Answer.OFFER_HELP
    if prompt.kind == "check_in":  # a scheduled check-in (docs/care.md): 1 is "I'm fine"
        return Intent(c.CARE_CONFIRM_CHECK_IN, Answer.CHECKED_IN) if digit == 1 else Answer.CHECK_IN_HELP
    if prompt.kind == "rating":
        if digit == 0:
            return Intent(c.REQUEST_REPORT_NOT_DONE, Answer.NOT_DONE)
        if digit is not None and 1 <= digit <= 5:
            return Intent(c.REQUEST_RATE, Answer.RATED, stars=digit)
        return Answer.RATING_HELP
    return Answer.NO_PROMPT


def open_at(prompt: Prompt, now: datetime) -> bool:
    return prompt.expires_at is None or now < prompt.expires_at


def text_of(answer: Answer, language: str) -> str:
    texts = ANSWERS[answer]
    return texts.get(language) or texts["zh"]
