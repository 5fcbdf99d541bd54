"""Notify's pure rules: masking, quiet hours, signatures, backoff, targets, audiences, resume, messages."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from services.notify.domain.audiences import (
    DistrictScope,
    RequestScope,
    VolunteerScope,
    matches,
    volunteers_of,
)
from services.notify.domain.backoff import retry_delay, should_park
from services.notify.domain.preferences import Channel, Preferences, QuietHours, push_channels
from services.notify.domain.quiet_hours import in_quiet_hours
from services.notify.domain.resume import (
    PARTITION_SLOTS,
    LogView,
    ResumeDecision,
    needs_log_end,
    parse_cursor,
    place_of,
    plan_resume,
    position_before,
    position_of,
)
from services.notify.domain.signatures import sign, verify
from services.notify.domain.targets import RefusedTarget, check_address, check_url_shape
from shared.masking import mask_address, mask_phone, mask_phones_in


class TestMasking:
    @pytest.mark.parametrize(
        ("phone", "masked"),
        [
            ("13800001234", "138****1234"),
            ("+8613800001234", "+86138****1234"),
            ("138 0000 1234", "138****1234"),
            ("0971-8123456", "097****3456"),
            ("8123456", "81****56"),
            ("110", "****"),
        ],
    )
    def test_phone_keeps_only_head_and_tail(self, phone: str, masked: str) -> None:
        assert mask_phone(phone) == masked

    def test_phones_inside_text_are_masked(self) -> None:
        assert mask_phones_in("call 13800001234 now") == "call 138****1234 now"

    def test_address_hides_building_and_door(self) -> None:
        masked = mask_address("城中区南大街香格里拉小区3号楼2单元501")
        assert masked.endswith("***") and "501" not in masked


class TestQuietHours:
    # 22:00-07:00 in Xining (UTC+8): 15:30 UTC is 23:30 local, 01:00 UTC is 09:00 local.
    def test_window_across_midnight(self) -> None:
        night = datetime(2024, 5, 1, 15, 30, tzinfo=UTC)
        morning = datetime(2024, 5, 1, 1, 0, tzinfo=UTC)
        assert in_quiet_hours(night, timezone="Asia/Shanghai", start="22:00", end="07:00")
        assert not in_quiet_hours(morning, timezone="Asia/Shanghai", start="22:00", end="07:00")

    def test_window_within_a_day_and_empty_window(self) -> None:
        noon_local = datetime(2024, 5, 1, 4, 30, tzinfo=UTC)  # 12:30 local
        assert in_quiet_hours(noon_local, timezone="Asia/Shanghai", start="12:00", end="14:00")
        assert not in_quiet_hours(noon_local, timezone="Asia/Shanghai", start="12:00", end="12:00")


class TestPreferences:
    night = datetime(2024, 5, 1, 15, 30, tzinfo=UTC)
    quiet = Preferences(channels=[Channel.STREAM, Channel.SMS], quiet_hours=QuietHours(start="22:00", end="07:00"))

    def test_quiet_hours_hold_push_messages(self) -> None:
        assert push_channels(self.quiet, critical=False, now=self.night, timezone="Asia/Shanghai") == []

    def test_critical_events_bypass_channels_and_quiet_hours(self) -> None:
        stream_only = Preferences(channels=[Channel.STREAM])
        assert push_channels(stream_only, critical=True, now=self.night, timezone="Asia/Shanghai") == [
            Channel.SMS,
            Channel.VOICE,
        ]

    def test_outside_quiet_hours_the_chosen_push_channels_apply(self) -> None:
        day = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
        assert push_channels(self.quiet, critical=False, now=day, timezone="Asia/Shanghai") == [Channel.SMS]


class TestSignatures:
    def test_receiver_verifies_what_sender_signed(self) -> None:
        signature = sign("whsec_x", 1_700_000_000, b'{"a":1}')
        assert signature.startswith("v1=")
        assert verify("whsec_x", timestamp="1700000000", body=b'{"a":1}', signature=signature, now=1_700_000_010)

    @pytest.mark.parametrize(
        ("secret", "timestamp", "body", "now"),
        [
            ("other", "1700000000", b'{"a":1}', 1_700_000_000),  # wrong secret
            ("whsec_x", "1700000000", b'{"a":2}', 1_700_000_000),  # tampered body
            ("whsec_x", "1700000001", b'{"a":1}', 1_700_000_000),  # timestamp moved
            ("whsec_x", "1700000000", b'{"a":1}', 1_700_001_000),  # replayed too late
        ],
    )
    def test_tampering_or_replay_fails(self, secret: str, timestamp: str, body: bytes, now: int) -> None:
        signature = sign("whsec_x", 1_700_000_000, b'{"a":1}')
        assert not verify(secret, timestamp=timestamp, body=body, signature=signature, now=now)


class TestBackoff:
    def test_exponential_with_equal_jitter_and_cap(self) -> None:
        rand = random.Random(7)
        for attempt, ceiling in [(1, 5.0), (2, 10.0), (3, 20.0), (10, 60.0)]:
            delay = retry_delay(attempt, base=5.0, cap=60.0, rand=rand)
            assert ceiling / 2 <= delay <= ceiling

    def test_jitter_spreads_retries(self) -> None:
        rand = random.Random(1)
        assert len({round(retry_delay(3, base=1.0, cap=60.0, rand=rand), 6) for _ in range(20)}) > 10

    def test_parks_after_max_attempts(self) -> None:
        assert not should_park(2, 3)
        assert should_park(3, 3)


class TestTargets:
    @pytest.mark.parametrize("address", ["10.0.0.5", "192.168.1.1", "172.16.3.4", "169.254.169.254", "::1", "0.0.0.0"])
    def test_private_and_special_addresses_are_refused(self, address: str) -> None:
        with pytest.raises(RefusedTarget):
            check_address(address, allow_loopback=False)

    def test_loopback_only_when_allowed(self) -> None:
        check_address("127.0.0.1", allow_loopback=True)
        check_address("::ffff:127.0.0.1", allow_loopback=True)
        with pytest.raises(RefusedTarget):
            check_address("127.0.0.1", allow_loopback=False)
        with pytest.raises(RefusedTarget):
            check_address("10.1.1.1", allow_loopback=True)

    def test_public_address_passes(self) -> None:
        check_address("93.184.216.34", allow_loopback=False)

    @pytest.mark.parametrize("url", ["ftp://example.org/x", "http://user:pw@example.org/", "http:///nohost"])
    def test_bad_url_shapes(self, url: str) -> None:
        with pytest.raises(RefusedTarget):
            check_url_shape(url)


ROUTING = {"status": "offered", "community_id": "xianggelila", "grid_id": "xgll-01"}


class TestAudiences:
    def test_volunteers_of_merges_assignee_and_offers(self) -> None:
        assert volunteers_of({"volunteer_id": "v3", "volunteer_ids": ["v1", "v2"]}) == ["v1", "v2", "v3"]
        assert volunteers_of({"volunteer_id": "v1", "volunteer_ids": ["v1"]}) == ["v1"]

    def test_scopes(self) -> None:
        event: dict[str, Any] = {"request_id": "r1", "volunteers": ["v1"], "routing": ROUTING}
        assert matches(RequestScope("r1"), **event)
        assert not matches(RequestScope("r2"), **event)
        assert matches(VolunteerScope("v1"), **event)
        assert not matches(VolunteerScope("v2"), **event)
        assert matches(DistrictScope(), **event)
        assert matches(DistrictScope(grid_ids=frozenset({"xgll-01"}), statuses=frozenset({"offered"})), **event)
        assert not matches(DistrictScope(community_ids=frozenset({"other"})), **event)
        assert not matches(DistrictScope(statuses=frozenset({"assigned"})), **event)


# Partition 2 of the status log: offsets 0-99 deleted by retention, memory holds every event of the district
# from offset 150 on, this replica has read up to offset 200 (exclusive).
VIEW = LogView(partition=2, log_start=100, memory_start=150, watermark=200)


def after(offset: int, partition: int = 2) -> int:
    """The cursor of a client that saw the record at `offset`."""
    return position_of(partition, offset)


class TestResume:
    def test_cursor_from_query_wins_over_header(self) -> None:
        assert parse_cursor("12", 5) == 5
        assert parse_cursor("chengzhong:12", None) == 12
        assert parse_cursor(None, None) is None
        assert parse_cursor("garbage", None) is None
        assert parse_cursor("0", None) is None and parse_cursor(None, 0) is None  # 0: from the start, i.e. fresh
        assert parse_cursor("²", None) is None

    def test_a_position_is_a_place_in_the_log_and_orders_a_partition_by_offset(self) -> None:
        assert place_of(position_of(5, 41)).partition == 5 and place_of(position_of(5, 41)).next_offset == 42
        assert place_of(position_before(5, 42)) == place_of(position_of(5, 41))
        assert position_of(3, 7) < position_of(3, 8) < position_of(3, 9)
        assert position_of(PARTITION_SLOTS - 1, 0) < position_of(0, 1)  # one number per (partition, offset)

    def test_fresh_replays_what_memory_holds_within_the_log(self) -> None:
        plan = plan_resume(None, VIEW)
        assert plan.decision is ResumeDecision.FRESH and plan.from_offset == plan.log_until == 150
        expired_memory = plan_resume(None, LogView(partition=2, log_start=160, memory_start=150, watermark=200))
        assert expired_memory.from_offset == 160  # never an event the log itself no longer has

    def test_a_cursor_inside_memory_reads_no_log(self) -> None:
        plan = plan_resume(after(170), VIEW)
        assert plan.decision is ResumeDecision.RESUME and plan.from_offset == plan.log_until == 171

    def test_a_cursor_older_than_memory_reads_the_log_up_to_memory(self) -> None:
        plan = plan_resume(after(120), VIEW)
        assert plan.decision is ResumeDecision.RESUME and (plan.from_offset, plan.log_until) == (121, 150)
        assert plan_resume(after(99), VIEW).log_until == 150  # offset 100 is the first kept: still in reach

    def test_reset_beyond_the_horizon_on_another_partition_or_never_issued(self) -> None:
        assert plan_resume(after(98), VIEW).decision is ResumeDecision.RESET  # offset 99 left the log
        assert plan_resume(after(170, partition=3), VIEW).decision is ResumeDecision.RESET
        never = plan_resume(after(500), LogView(2, 100, 150, 200, log_end=260))
        assert never.decision is ResumeDecision.RESET and never.from_offset == 200

    def test_a_cursor_from_a_replica_that_read_further_waits_for_live_events(self) -> None:
        cursor = after(230)
        assert needs_log_end(cursor, VIEW.watermark) and not needs_log_end(after(150), VIEW.watermark)
        plan = plan_resume(cursor, LogView(2, 100, 150, 200, log_end=260))
        assert plan.decision is ResumeDecision.RESUME and plan.from_offset == plan.log_until == 231
        assert plan_resume(cursor, VIEW).decision is ResumeDecision.RESET  # asked without the log's end: unknown
