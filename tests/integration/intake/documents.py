"""Request documents as dispatch writes them (docs/data-model.md), for reading through intake."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.mongo import Document
from shared.request_ids import mint_request_id


def request_document(id_key: bytes, district_id: str = "chengzhong", **overrides: Any) -> Document:
    now = datetime.now(UTC)
    request_id = mint_request_id(id_key, district_id, f"doc-{uuid.uuid4()}")
    document: Document = {
        "_id": request_id,
        "district_id": district_id,
        "street_office_id": "renminjie",
        "community_id": "xianggelila",
        "grid_id": "xgll-01",
        "menu_item_code": "errand.groceries",
        "status": "assigned",
        "level": "grid",
        "priority": "normal",
        "resident": {"name": "王仁柱", "phone": "+8613800001234", "language": "zh"},
        "text": "十斤米",
        "attributes": {},
        "submitted_by": {"role": "client_app", "subject": "k"},
        "submitted_at": now,
        "created_at": now,
        "updated_at": now,
        "assigned_volunteer_id": "v-li-jianguo",
        "offered_volunteer_ids": [],
        "accept_due_at": None,
        "resolve_due_at": now + timedelta(hours=3),
        "sla_due_at": now + timedelta(hours=3),
        "redo_count": 0,
        "rating": None,
        "notes": [],
        "decisions": [{"kind": "assign", "reason": "internal"}],
        "timeline": [
            {"id": f"{request_id}:1", "type": "request.received", "data": {"status": "submitted", "sequence": 1}},
            {"id": f"{request_id}:2", "type": "request.assigned", "data": {"status": "assigned", "sequence": 2}},
        ],
        "version": 3,
        "sequence": 2,
        "processed_event_ids": ["x"],
        "outbox": [],
        "outbox_pending": False,
    }
    document.update(overrides)
    return document
