"""The volunteer page's pure parts: codes, stream tokens, what a task shows, the record's sums and CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient

from services.intake.api import volunteer_page
from services.intake.volunteer import codes, record, views
from services.intake.volunteer.settings import VolunteerPageSettings
from services.intake.volunteer.store import VolunteerPageStore
from shared import volunteer_stream_tokens as tokens
from shared.settings import IntakeSettings

KEY = b"k" * 40
REQUEST = {
    "_id": "r1",
    "status": "offered",
    "offered_volunteer_ids": ["v-a"],
    "assigned_volunteer_id": None,
    "menu_item_code": "errand.medicine",
    "text": "降压药两盒",
    "attributes": {"pharmacy": "any"},
    "resident": {"name": "王仁柱", "phone": "+8613800001234", "id": "res-1"},
    "submitted_by": {"role": "operator", "subject": "desk"},
    "notes": [{"at": datetime(2026, 1, 1, tzinfo=UTC), "by": "volunteer:v-a", "text": "到了"}],
}
RESIDENT = {
    "_id": "res-1",
    "address": "城中区南川东路 12 号 3 单元 402",
    "building": "12号楼",
    "unit": "3单元",
    "name": "王仁柱",
    "proxy": {"kind": "building_leader", "name": "李楼长", "phone": "+8613900002222"},
}


class TestCodes:
    def test_a_code_is_six_digits_and_only_its_phone_bound_hash_matches(self) -> None:
        code = codes.new_code()
        assert len(code) == 6 and code.isdigit()
        stored = codes.code_hash(KEY, "+8613800001234", code)
        assert codes.code_matches(KEY, "+8613800001234", code, stored)
        assert not codes.code_matches(KEY, "+8613800009999", code, stored)
        assert not codes.code_matches(b"other" * 8, "+8613800001234", code, stored)
        assert code not in stored and "13800001234" not in codes.phone_key(KEY, "+8613800001234")

    def test_the_session_id_stored_is_not_the_token(self) -> None:
        token = codes.new_session_token()
        assert codes.session_id(token) != token and len(token) >= 40


class TestStreamTokens:
    def test_a_token_names_its_volunteer_until_it_expires(self) -> None:
        expires = datetime.now(UTC) + timedelta(minutes=5)
        token = tokens.mint(KEY, district_id="chengzhong", volunteer_id="v-a", expires_at=expires)
        grant = tokens.verify([b"old" * 12, KEY], token)
        assert grant is not None and (grant.district_id, grant.volunteer_id) == ("chengzhong", "v-a")
        assert tokens.verify([KEY], token, now=expires + timedelta(seconds=1)) is None
        assert tokens.verify([b"x" * 40], token) is None

    def test_a_forged_body_is_refused(self) -> None:
        token = tokens.mint(KEY, district_id="chengzhong", volunteer_id="v-a", expires_at=datetime.now(UTC))
        prefix, _, tag = token.split(".")
        other = tokens.mint(KEY, district_id="chengzhong", volunteer_id="v-b", expires_at=datetime.now(UTC))
        assert tokens.verify([KEY], f"{prefix}.{other.split('.')[1]}.{tag}") is None
        assert tokens.verify([KEY], "garbage") is None


class TestTaskView:
    def test_only_the_volunteer_the_document_names_gets_a_kind(self) -> None:
        assert views.kind_for(REQUEST, "v-a") == "offer"
        assert views.kind_for(REQUEST, "v-b") is None
        assigned = {**REQUEST, "status": "in_progress", "assigned_volunteer_id": "v-b", "offered_volunteer_ids": []}
        assert views.kind_for(assigned, "v-b") == "assignment" and views.kind_for(assigned, "v-a") is None
        assert views.kind_for({**assigned, "status": "resolved"}, "v-b") is None

    def test_an_offer_shows_the_task_but_no_phone_no_full_name_no_full_address(self) -> None:
        item = {"name_zh": "代购药品", "attributes": [{"code": "pharmacy", "description": "哪家药店",
                                                     "values": [{"key": "any", "name": "都可以"}]}]}  # fmt: skip
        view = views.task_view(REQUEST, "offer", entry=None, resident=RESIDENT, item=item)
        assert view["answers_in_words"] == [{"code": "pharmacy", "label": "哪家药店", "value": "都可以"}]
        text = str(view)
        assert view["menu_item"]["name_zh"] == "代购药品" and view["text"] == "降压药两盒"
        assert view["answers"] == {"pharmacy": "any"}
        assert "13800001234" not in text and "13900002222" not in text and "王仁柱" not in text
        assert "402" not in text and view["place"]["building"] == "12号楼 3单元"
        assert "notes" not in view and "submitted_by" not in text

    def test_an_assignment_shows_what_the_visit_needs(self) -> None:
        assigned = {**REQUEST, "status": "assigned", "assigned_volunteer_id": "v-a"}
        view = views.task_view(assigned, "assignment", entry=None, resident=RESIDENT, item=None)
        assert view["resident"]["phone"] == "+8613800001234" and view["place"]["address"].endswith("402")
        assert view["proxy"] == {"kind": "building_leader", "name": "李楼长", "phone": "+8613900002222"}
        assert view["notes"][0]["text"] == "到了" and "submitted_by" not in str(view)

    def test_a_request_without_a_resident_document_still_reads(self) -> None:
        assigned = {**REQUEST, "status": "assigned", "assigned_volunteer_id": "v-a", "resident": {}}
        view = views.task_view(assigned, "assignment", entry=None, resident=None, item=None)
        assert view["proxy"] is None and view["place"] == {"building": None, "address": None}


ENTRIES = [
    {"volunteer_id": "v-a", "minutes": 30, "stars": 5, "grid_id": "g1", "resolved_at": "2026-01-02"},
    {"volunteer_id": "v-a", "minutes": 90, "stars": None, "grid_id": "g1", "resolved_at": "2026-01-03"},
    {"volunteer_id": "v-b", "minutes": 60, "stars": 3, "grid_id": "g1", "resolved_at": "2026-01-04"},
]


class TestRecord:
    def test_totals_sum_tasks_hours_and_ratings(self) -> None:
        assert record.totals(ENTRIES) == {
            "tasks": 3, "minutes": 180, "hours": 3.0, "ratings": 2, "average_stars": 4.0,
        }  # fmt: skip
        assert record.totals([])["average_stars"] is None

    def test_the_csv_has_one_row_per_volunteer_and_neutralises_formulas(self) -> None:
        text = record.csv_text("2026-01", ENTRIES, {"v-a": {"name": "=HYPERLINK(1)", "kind": "grid_leader"}})
        rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
        assert [r["volunteer_id"] for r in rows] == ["v-a", "v-b"]
        assert rows[0]["tasks"] == "2" and rows[0]["hours"] == "2.0" and rows[0]["average_stars"] == "5.0"
        assert rows[0]["name"] == "'=HYPERLINK(1)"

    def test_months_are_checked(self) -> None:
        assert record.valid_month("2026-12") and not record.valid_month("2026-13")


class TestWiring:
    STORE = VolunteerPageStore(AsyncMongoClient("mongodb://127.0.0.1:9", connect=False)["unused"])
    SECRET = "s" * 48

    def settings(self, **values: str) -> IntakeSettings:
        return IntakeSettings.model_validate({"GRID_ID_SIGNING_KEY": self.SECRET, **values})

    def test_a_session_cookie_without_secure_is_refused_off_127_0_0_1(self) -> None:
        relaxed = VolunteerPageSettings.model_validate({"VOLUNTEER_COOKIE_SECURE": False})
        with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
            volunteer_page(self.settings(INTAKE_PUBLIC_URL="https://grid.example.org"), relaxed, self.STORE, None)
        local = volunteer_page(self.settings(INTAKE_PUBLIC_URL="http://127.0.0.1:8000"), relaxed, self.STORE, None)
        assert local.cookie_secure is False

    def test_the_log_gateway_sends_codes_only_in_development(self) -> None:
        page = VolunteerPageSettings()
        production = volunteer_page(self.settings(), page, self.STORE, None)
        development = volunteer_page(self.settings(GRID_ENVIRONMENT="development"), page, self.STORE, None)
        assert production.sign_in.gateway_allowed is False and development.sign_in.gateway_allowed is True
        assert production.notify_ws_url == "ws://127.0.0.1:8002"
