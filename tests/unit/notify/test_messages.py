"""Who is told what, in which language and by which channel: residents, proxies, volunteers, responsible people."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from services.notify.domain.delivery_channels import channels_for, natural_channel
from services.notify.domain.given_names import given_name
from services.notify.domain.message_plan import (
    EventFacts,
    Planned,
    ResidentFacts,
    ResponsibleFacts,
    VolunteerFacts,
    audiences_told,
    plan,
)
from services.notify.domain.messages import (
    RESIDENT_SMS,
    RESIDENT_VOICE,
    RESPONSIBLE_SMS,
    VOLUNTEER_SMS,
    Audience,
    Names,
    PromptKind,
)
from services.notify.domain.preferences import Channel, Preferences, QuietHours
from shared.contracts import status as s

GROCERIES = Names(
    item={"zh": "代购米面油", "en": "Buy rice, flour and cooking oil"},
    place={"zh": "香格里拉第一网格", "en": "Shangri-La Grid 1"},
    level="community",
)
LI = VolunteerFacts("v-li-jianguo", phone="+8613800000001", language="zh", given_name="建国")
ANNA = VolunteerFacts("v-anna", phone="+8613800000002", language="en", given_name="Anna")
READER = ResidentFacts(name="王秀英", phone="+8613900000001", language="zh")
CANNOT_READ = ResidentFacts(name="王秀英", phone="+8613900000001", language="zh", cannot_read=True)
NO_PHONE = ResidentFacts(name="王秀英", phone=None, language="zh", proxy_name="张楼长", proxy_phone="+8613700000009")
CODES_AND_IDS = re.compile(r"errand\.|v-[a-z]|req[-_]|\+?\d{7,}|[a-z]+_[a-z]+")


def facts(event_type: str, **overrides: object) -> EventFacts:
    values: dict[str, object] = {
        "event_type": event_type,
        "request_id": "r-1",
        "names": GROCERIES,
        "resident": READER,
        "volunteer_id": LI.volunteer_id,
        "volunteers": {LI.volunteer_id: LI},
    }
    values.update(overrides)
    return EventFacts(**values)  # type: ignore[arg-type]


def only(planned: list[Planned], audience: Audience) -> Planned:
    found = [p for p in planned if p.audience is audience]
    assert len(found) == 1, planned
    return found[0]


class TestResidents:
    def test_assigned_names_the_volunteer_by_given_name_and_the_item_by_name(self) -> None:
        message = only(plan(facts(s.REQUEST_ASSIGNED)), Audience.RESIDENT)
        assert message.recipient == "request:r-1" and message.phone == READER.phone
        assert message.natural is Channel.SMS
        assert "志愿者建国" in message.texts[Channel.SMS] and "代购米面油" in message.texts[Channel.SMS]
        assert "李" not in message.texts[Channel.SMS]  # the surname stays private

    def test_english_speaking_resident_reads_english(self) -> None:
        english = ResidentFacts(name="Mary", phone="+8613900000002", language="en")
        message = only(plan(facts(s.REQUEST_STARTED, resident=english)), Audience.RESIDENT)
        expected = "Volunteer 建国 has started on your request: Buy rice, flour and cooking oil."
        assert message.texts[Channel.SMS] == expected

    def test_an_unknown_language_falls_back_to_chinese(self) -> None:
        hui = ResidentFacts(phone="+8613900000003", language="hui")
        message = only(plan(facts(s.REQUEST_CANCELLED, resident=hui)), Audience.RESIDENT)
        assert message.language == "zh" and message.texts[Channel.SMS] == "您的求助（代购米面油）已取消。"

    def test_resolved_asks_for_a_rating_by_digit(self) -> None:
        message = only(plan(facts(s.REQUEST_RESOLVED)), Audience.RESIDENT)
        assert message.prompt is PromptKind.RATING
        assert "回复1到5" in message.texts[Channel.SMS] and "回复0" in message.texts[Channel.SMS]

    def test_a_resident_who_cannot_read_gets_a_call_read_aloud(self) -> None:
        message = only(plan(facts(s.REQUEST_RESOLVED, resident=CANNOT_READ)), Audience.RESIDENT)
        assert message.natural is Channel.VOICE
        voice = message.texts[Channel.VOICE]
        assert voice.startswith("您好，这里是社区服务。") and "代购米面油" in voice
        assert "回复" not in voice  # nobody is asked to type a reply on a call

    def test_no_phone_the_proxy_gets_it_to_pass_on(self) -> None:
        message = only(plan(facts(s.REQUEST_ASSIGNED, resident=NO_PHONE)), Audience.RESIDENT)
        assert message.phone == NO_PHONE.proxy_phone and message.recipient == "request:r-1"
        assert message.texts[Channel.SMS].startswith("请转告王秀英：") and "志愿者建国" in message.texts[Channel.SMS]
        rating = only(plan(facts(s.REQUEST_RESOLVED, resident=NO_PHONE)), Audience.RESIDENT)
        assert rating.prompt is PromptKind.RATING and rating.phone == NO_PHONE.proxy_phone

    def test_nobody_to_reach_means_no_resident_message(self) -> None:
        alone = ResidentFacts(name="王秀英")
        assert [p for p in plan(facts(s.REQUEST_ASSIGNED, resident=alone)) if p.audience is Audience.RESIDENT] == []

    def test_offers_and_internal_events_are_not_sent_to_the_resident(self) -> None:
        for event_type in (s.REQUEST_OFFERED, s.REQUEST_MATCHING, s.REQUEST_NOTE_ADDED, s.REQUEST_OFFER_DECLINED):
            assert Audience.RESIDENT not in audiences_told(event_type)

    def test_unknown_names_still_read_as_sentences(self) -> None:
        unknown = Names(item={}, place={})
        message = only(plan(facts(s.REQUEST_ASSIGNED, names=unknown, volunteers={})), Audience.RESIDENT)
        assert message.texts[Channel.SMS] == "您好！志愿者已接下您的求助（您的求助），会尽快和您联系。"


class TestVolunteers:
    def test_each_offer_asks_for_a_reply_code(self) -> None:
        planned = plan(facts(s.REQUEST_OFFERED, volunteers={LI.volunteer_id: LI, ANNA.volunteer_id: ANNA}))
        offers = [p for p in planned if p.audience is Audience.VOLUNTEER]
        assert {p.volunteer_id for p in offers} == {LI.volunteer_id, ANNA.volunteer_id}
        assert all(p.prompt is PromptKind.OFFER for p in offers)
        by_id = {p.volunteer_id: p.texts[Channel.SMS] for p in offers}
        assert by_id[LI.volunteer_id] == "新求助：代购米面油（香格里拉第一网格）。回复1接单，回复2不接。"
        assert by_id[ANNA.volunteer_id].endswith("Reply 1 to accept, 2 to decline.")

    def test_a_volunteer_without_a_phone_gets_nothing(self) -> None:
        silent = VolunteerFacts("v-silent")
        planned = plan(facts(s.REQUEST_OFFERED, volunteers={"v-silent": silent}))
        assert [p for p in planned if p.audience is Audience.VOLUNTEER] == []


class TestResponsiblePeople:
    @pytest.mark.parametrize("event_type", sorted(RESPONSIBLE_SMS))
    def test_the_responsible_person_is_told_when_it_reaches_their_level(self, event_type: str) -> None:
        director = ResponsibleFacts("community_director", name="王主任", phone="+8613600000001")
        message = only(plan(facts(event_type, responsible=director)), Audience.RESPONSIBLE)
        assert message.recipient == "responsible:community_director"
        assert message.texts[Channel.SMS].startswith("王主任您好：") and "代购米面油" in message.texts[Channel.SMS]

    def test_without_a_name_the_role_is_used(self) -> None:
        office = ResponsibleFacts("street_office", phone="+8613600000002")
        message = only(plan(facts(s.REQUEST_ESCALATED, responsible=office)), Audience.RESPONSIBLE)
        assert message.texts[Channel.SMS].startswith("街道负责人您好：")


class TestEveryText:
    @pytest.mark.parametrize("table", [RESIDENT_SMS, RESIDENT_VOICE, VOLUNTEER_SMS, RESPONSIBLE_SMS])
    def test_both_languages_short_and_free_of_codes(self, table: dict[str, dict[str, str]]) -> None:
        for event_type, texts in table.items():
            assert event_type in s.STATUS_EVENT_TYPES
            assert set(texts) == {"zh", "en"}
            for lang, template in texts.items():
                text = template.format(
                    item=GROCERIES.item[lang], place=GROCERIES.place[lang], level="社区", volunteer="志愿者建国",
                    person="王主任",
                )  # fmt: skip
                assert not CODES_AND_IDS.search(text), text
                assert len(text) <= (70 if lang == "zh" else 160), text  # one SMS segment's worth, or close

    def test_voice_covers_every_resident_sms(self) -> None:
        assert set(RESIDENT_VOICE) == set(RESIDENT_SMS)


class TestGivenNames:
    @pytest.mark.parametrize(
        ("full", "given"),
        [
            ("李建国", "建国"),
            ("王鹏", "鹏"),
            ("欧阳娜娜", "娜娜"),
            ("Wei Zhang", "Wei"),
            ("敏", "敏"),
            ("", None),
            (None, None),
        ],
    )
    def test_given_name(self, full: str | None, given: str | None) -> None:
        assert given_name(full) == given


class TestChannels:
    night = datetime(2024, 5, 1, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    tz = "Asia/Shanghai"

    def test_no_setup_means_the_channel_that_reaches_the_person(self) -> None:
        assert channels_for(None, natural=Channel.SMS, critical=False, now=self.night, timezone=self.tz) == [
            Channel.SMS
        ]
        voice = natural_channel(cannot_read=True)
        assert channels_for(None, natural=voice, critical=False, now=self.night, timezone=self.tz) == [Channel.VOICE]

    def test_an_opt_out_is_respected_except_for_critical_events(self) -> None:
        stream_only = Preferences(channels=[Channel.STREAM])
        assert channels_for(stream_only, natural=Channel.SMS, critical=False, now=self.night, timezone=self.tz) == []
        assert channels_for(stream_only, natural=Channel.SMS, critical=True, now=self.night, timezone=self.tz) == [
            Channel.SMS
        ]

    def test_quiet_hours_hold_ordinary_messages_but_not_critical_ones(self) -> None:
        quiet = Preferences(channels=[Channel.SMS, Channel.VOICE], quiet_hours=QuietHours(start="22:00", end="07:00"))
        assert channels_for(quiet, natural=Channel.SMS, critical=False, now=self.night, timezone=self.tz) == []
        assert channels_for(quiet, natural=Channel.SMS, critical=True, now=self.night, timezone=self.tz) == [
            Channel.SMS,
            Channel.VOICE,
        ]


class TestScheduledCheckIn:
    """A check-in's window opened (docs/care.md): the resident is asked to reply 1 if they are fine."""

    def test_the_resident_is_asked_to_reply_1(self) -> None:
        message = only(plan(facts(s.CARE_CHECK_IN_DUE, volunteers={})), Audience.RESIDENT)
        assert message.prompt is PromptKind.CHECK_IN and message.phone == READER.phone
        assert "回复1" in message.texts[Channel.SMS]

    def test_a_household_without_a_phone_is_asked_through_its_proxy(self) -> None:
        message = only(plan(facts(s.CARE_CHECK_IN_DUE, resident=NO_PHONE, volunteers={})), Audience.RESIDENT)
        assert message.phone == NO_PHONE.proxy_phone and message.prompt is PromptKind.CHECK_IN
        assert "王秀英" in message.texts[Channel.SMS]

    def test_a_resident_who_cannot_read_is_called_and_asked_for_no_typed_reply(self) -> None:
        message = only(plan(facts(s.CARE_CHECK_IN_DUE, resident=CANNOT_READ, volunteers={})), Audience.RESIDENT)
        assert message.natural is Channel.VOICE and "回复" not in message.texts[Channel.VOICE]
        assert audiences_told(s.CARE_CHECK_IN_DUE) == {Audience.RESIDENT}
