"""Reading a digit texted back, and what it asks for given the prompt it answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.intake.sms_replies import ANSWERS, Answer, Intent, Prompt, digit_of, intent_of, open_at, text_of
from shared.contracts import commands as c

NOW = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
OFFER = Prompt("chengzhong", "r-1", "offer", "v-li", "zh", NOW + timedelta(hours=1))
RATING = Prompt("chengzhong", "r-1", "rating", None, "en", NOW + timedelta(days=3))


@pytest.mark.parametrize(
    ("body", "digit"),
    [("1", 1), (" 2 ", 2), ("１", 1), ("5。", 5), ("0.", 0), ("12", None), ("yes", None), ("", None), ("一", None)],
)
def test_digit_of(body: str, digit: int | None) -> None:
    assert digit_of(body) == digit


def test_a_volunteer_accepts_with_1_and_declines_with_2() -> None:
    assert intent_of(OFFER, 1) == Intent(c.OFFER_ACCEPT, Answer.ACCEPTED)
    assert intent_of(OFFER, 2) == Intent(c.OFFER_DECLINE, Answer.DECLINED)
    assert intent_of(OFFER, 5) is Answer.OFFER_HELP
    assert intent_of(OFFER, None) is Answer.OFFER_HELP


def test_a_resident_rates_1_to_5_or_says_not_done_with_0() -> None:
    assert intent_of(RATING, 4) == Intent(c.REQUEST_RATE, Answer.RATED, stars=4)
    assert intent_of(RATING, 0) == Intent(c.REQUEST_REPORT_NOT_DONE, Answer.NOT_DONE)
    assert intent_of(RATING, 7) is Answer.RATING_HELP


def test_an_unknown_prompt_kind_gets_help_not_a_command() -> None:
    assert intent_of(Prompt("chengzhong", "r-1", "survey", None, "zh", None), 1) is Answer.NO_PROMPT


def test_a_resident_says_they_are_fine_with_1_on_a_check_in() -> None:
    check_in = Prompt("chengzhong", "care:p1:2026-12-01", "check_in", None, "zh", None)
    assert intent_of(check_in, 1) == Intent(c.CARE_CONFIRM_CHECK_IN, Answer.CHECKED_IN)
    assert intent_of(check_in, 2) is Answer.CHECK_IN_HELP and intent_of(check_in, None) is Answer.CHECK_IN_HELP


def test_prompts_close_when_they_expire() -> None:
    assert open_at(OFFER, NOW) and not open_at(OFFER, NOW + timedelta(hours=2))


def test_every_answer_in_both_languages_and_the_prompts_language_is_used() -> None:
    assert all(set(texts) == {"zh", "en"} for texts in ANSWERS.values())
    assert set(ANSWERS) == set(Answer)
    assert text_of(Answer.RATING_HELP, RATING.language).startswith("Please reply 1 to 5")
    assert text_of(Answer.RATING_HELP, "hui") == ANSWERS[Answer.RATING_HELP]["zh"]
