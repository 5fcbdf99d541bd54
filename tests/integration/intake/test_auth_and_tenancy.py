"""API keys and district tenancy: no key 401, wrong role 403, another district's anything 404."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.intake.api import create_app
from services.intake.settings import ApiLimits
from shared.api_keys import ApiKeyRepository, Role
from shared.mongo import Document
from shared.settings import IntakeSettings
from tests.integration.intake.conftest import Keys
from tests.integration.intake.documents import request_document

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


def settings_key(settings: IntakeSettings) -> bytes:
    return settings.id_signing_key.get_secret_value().encode()


class TestAuthentication:
    @pytest.mark.parametrize(
        "headers",
        [{}, {"X-API-Key": "nonsense"}, {"X-API-Key": "gsp_0123456789abcdef_wrong"}, {"Authorization": "Bearer x"}],
    )
    async def test_missing_or_unknown_key_is_401_problem(
        self, intake: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        response = await intake.get("/v1/districts/chengzhong/requests", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["code"] == "unauthorized"
        assert "www-authenticate" in response.headers

    async def test_bearer_works_like_the_header(self, intake: httpx.AsyncClient, keys: Keys) -> None:
        response = await intake.get(
            "/v1/districts/chengzhong/requests", headers={"Authorization": f"Bearer {keys.operator}"}
        )
        assert response.status_code == 200

    async def test_revoked_key_is_refused(self, intake: httpx.AsyncClient, db: AsyncDatabase[Document]) -> None:
        repository = ApiKeyRepository(db)
        key = await repository.create(district_id="chengzhong", role=Role.OPERATOR, subject="soon-gone")
        assert (await intake.get("/v1/districts/chengzhong/requests", headers={"X-API-Key": key})).status_code == 200

        assert await repository.revoke(key.split("_")[1])

        response = await intake.get("/v1/districts/chengzhong/requests", headers={"X-API-Key": key})
        assert response.status_code == 401

    async def test_role_without_the_right_is_403(self, intake: httpx.AsyncClient, keys: Keys) -> None:
        search = await intake.get("/v1/districts/chengzhong/requests", headers=keys.headers("client"))
        put = await intake.put(
            "/v1/districts/chengzhong/grids/xgll-09",
            json={"community_id": "xianggelila", "name_zh": "九", "name_en": "Nine"},
            headers=keys.headers("operator"),
        )
        assert search.status_code == put.status_code == 403
        assert search.headers["content-type"] == PROBLEM


class TestTenancy:
    """A key of chengxi sees nothing of chengzhong: every answer is the one for a missing thing."""

    async def test_other_districts_request_reads_like_a_missing_one(
        self, intake: httpx.AsyncClient, keys: Keys, db: AsyncDatabase[Document], intake_settings: IntakeSettings
    ) -> None:
        document = request_document(settings_key(intake_settings))
        await db.requests.insert_one(document)
        own = await intake.get(f"/v1/districts/chengzhong/requests/{document['_id']}", headers=keys.headers("operator"))
        via_other_path = await intake.get(
            f"/v1/districts/chengxi/requests/{document['_id']}", headers=keys.headers("chengxi_operator")
        )
        missing_in_other = await intake.get(
            "/v1/districts/chengxi/requests/" + "0" * 32, headers=keys.headers("chengxi_operator")
        )
        cross = await intake.get(
            f"/v1/districts/chengzhong/requests/{document['_id']}", headers=keys.headers("chengxi_operator")
        )
        nowhere = await intake.get(
            f"/v1/districts/atlantis/requests/{document['_id']}", headers=keys.headers("chengxi_operator")
        )

        assert own.status_code == 200
        assert via_other_path.status_code == missing_in_other.status_code == 404
        assert cross.status_code == nowhere.status_code == 404
        assert cross.json()["detail"].replace("chengzhong", "X") == nowhere.json()["detail"].replace("atlantis", "X")

    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("GET", "/v1/districts/chengzhong/requests", None),
            ("GET", "/v1/districts/chengzhong/volunteers", None),
            ("GET", "/v1/districts/chengzhong/volunteers/v-li-jianguo", None),
            ("GET", "/v1/districts/chengzhong/residents/requests?phone=13800001234&access_token=x", None),
            ("POST", "/v1/districts/chengzhong/requests", {"menu_item_code": "errand.groceries", "grid_id": "xgll-01",
                                                           "resident_name": "王", "resident_phone": "13800001234"}),
            ("POST", "/v1/districts/chengzhong/requests/{id}/operator/escalate", {}),
            ("POST", "/v1/districts/chengzhong/requests/{id}/cancel", {}),
            ("PUT", "/v1/districts/chengzhong/grids/xgll-01", {"community_id": "xianggelila", "name_zh": "改",
                                                              "name_en": "Changed"}),
            ("DELETE", "/v1/districts/chengzhong/volunteers/v-li-jianguo", None),
            ("PUT", "/v1/districts/chengzhong/communities/xianggelila/menu/errand.groceries",
             {"name_zh": "改", "name_en": "x", "category": "errand"}),
        ],
    )  # fmt: skip
    async def test_no_route_reads_counts_or_changes_another_district(
        self,
        intake: httpx.AsyncClient,
        keys: Keys,
        db: AsyncDatabase[Document],
        intake_settings: IntakeSettings,
        method: str,
        path: str,
        body: dict[str, object] | None,
    ) -> None:
        document = request_document(settings_key(intake_settings))
        await db.requests.insert_one(document)
        before = await db.grids.find_one({"_id": "xgll-01"})

        response = await intake.request(
            method, path.format(id=document["_id"]), json=body, headers=keys.headers("chengxi_operator")
        )

        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["detail"] == "no district 'chengzhong'"
        assert await db.grids.find_one({"_id": "xgll-01"}) == before
        assert await db.volunteers.count_documents({"_id": "v-li-jianguo"}) == 1

    async def test_ids_of_another_district_cannot_be_taken_over(self, intake: httpx.AsyncClient, keys: Keys) -> None:
        # chengxi's admin (platform key here) cannot write chengzhong's grid id into chengxi.
        response = await intake.put(
            "/v1/districts/chengxi/grids/xgll-01",
            json={"community_id": "xueyuanxiang", "name_zh": "抢", "name_en": "Taken"},
            headers=keys.headers("platform"),
        )
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "id-of-another-district"
        assert response.json()["errors"][0]["field"] == "id"
        assert "chengzhong" not in response.text  # the holder is not named to another district's caller

    async def test_platform_admin_sees_both_districts(self, intake: httpx.AsyncClient, keys: Keys) -> None:
        for district in ("chengzhong", "chengxi"):
            response = await intake.get(f"/v1/districts/{district}/grids", headers=keys.headers("platform"))
            assert response.status_code == 200
            assert {grid["district_id"] for grid in response.json()} == {district}


class TestLimits:
    async def test_rate_limit_answers_429_with_retry_after(
        self, intake_settings: IntakeSettings, keys: Keys, db: AsyncDatabase[Document]
    ) -> None:
        limits = ApiLimits(INTAKE_RATE_PER_SECOND=0.5, INTAKE_RATE_BURST=2)
        app = create_app(intake_settings, limits)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client,
        ):
            statuses = [
                (await client.get("/v1/districts/chengzhong/grids", headers=keys.headers("operator"))).status_code
                for _ in range(3)
            ]
            other_key = await client.get("/v1/districts/chengzhong/grids", headers=keys.headers("admin"))
            refused = await client.get("/v1/districts/chengzhong/grids", headers=keys.headers("operator"))

        assert statuses == [200, 200, 429]
        assert other_key.status_code == 200
        assert refused.status_code == 429
        assert refused.headers["content-type"] == PROBLEM
        assert 1 <= int(refused.headers["retry-after"]) <= 2

    async def test_body_above_the_limit_is_413(self, intake: httpx.AsyncClient, keys: Keys) -> None:
        body = {"menu_item_code": "errand.groceries", "grid_id": "xgll-01", "resident_name": "王",
                "resident_phone": "13800001234", "text": "米" * 5000}  # fmt: skip
        response = await intake.post("/v1/districts/chengzhong/requests", json=body, headers=keys.headers("client"))
        assert response.status_code == 413
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["code"] == "body-too-large"

    async def test_a_chunked_body_above_the_limit_is_413_too(self, intake: httpx.AsyncClient, keys: Keys) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"menu_item_code": "errand.groceries", "text": "'
            for _ in range(20):
                yield b"x" * 1000
            yield b'"}'

        response = await intake.post(
            "/v1/districts/chengzhong/requests",
            content=chunks(),
            headers={**keys.headers("client"), "Content-Type": "application/json"},
        )
        assert "content-length" not in response.request.headers
        assert response.status_code == 413
        assert response.json()["code"] == "body-too-large"
