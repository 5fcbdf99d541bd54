"""Keys for the intake process started by tests/e2e/conftest.py."""

from __future__ import annotations

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from shared.api_keys import ApiKeyRepository, Role
from shared.mongo import Document


@pytest.fixture(scope="session")
async def intake_keys(db: AsyncDatabase[Document]) -> dict[str, str]:
    repository = ApiKeyRepository(db)
    return {
        role.value: await repository.create(district_id="chengzhong", role=role, subject=f"e2e-intake-{role.value}")
        for role in (Role.CLIENT_APP, Role.OPERATOR)
    }
