"""A stored volunteer as the roster event announces it: the matching profile, no personal data."""

from __future__ import annotations

from services.admin import rows
from services.intake.reference_models import VolunteerFields
from services.intake.roster import volunteer_changed


def test_the_payload_is_the_stored_profile_without_name_phone_or_legacy_load() -> None:
    stored = {
        "_id": "v-1", "district_id": "d", "grid_id": "g1", "community_id": "c1", "street_office_id": None,
        "name": "李", "kind": "grid_leader", "phone": "+8613800001234", "skills": ["repair"], "languages": ["zh"],
        "capacity": 2, "active": True, "on_duty": False, "availability": [], "location": None,
            "leave": [],
        "open_assignments": 3, "last_assigned_at": None,
    }  # fmt: skip

    payload = volunteer_changed(stored)

    assert payload.model_dump() == {
        "volunteer_id": "v-1", "street_office_id": "", "community_id": "c1", "grid_id": "g1", "skills": ["repair"],
        "languages": ["zh"], "capacity": 2, "active": True, "on_duty": False, "availability": [], "location": None,
            "leave": [],
    }  # fmt: skip


def test_a_document_written_before_on_duty_existed_is_on_duty() -> None:
    assert volunteer_changed({"_id": "v-2", "district_id": "d", "grid_id": "g"}).on_duty is True


def test_on_duty_is_a_csv_column_and_reads_true_or_false() -> None:
    values = rows.from_csv("volunteers", {"id": "v", "grid_id": "g", "name": "n", "on_duty": "false"})

    assert "on_duty" in rows.csv_columns("volunteers")
    assert VolunteerFields.model_validate({k: v for k, v in values.items() if k != "id"}).on_duty is False
