"""Streams on two real notify replicas: residents, volunteers, operators; resume, reset, district isolation."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
import websockets
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from pymongo.asynchronous.database import AsyncDatabase

from services.notify.domain.resume import place_of
from shared.api_keys import ApiKeyRepository, Role
from shared.contracts.status import REQUEST_ASSIGNED, REQUEST_OFFERED, REQUEST_RECEIVED, REQUEST_STARTED
from shared.kafka import EventPublisher
from shared.mongo import Document
from shared.request_ids import access_token, mint_request_id
from shared.settings import PlatformSettings
from tests.e2e.notify.streams_client import publish_status, sse
from tests.e2e.service_processes import ServiceProcess

pytestmark = pytest.mark.e2e
Replicas = tuple[ServiceProcess, ServiceProcess]


async def delete_records_before(settings: PlatformSettings, partition: int, offset: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_records({TopicPartition(settings.topics().status, partition): RecordsToDelete(offset)})
    finally:
        await admin.close()


def new_request(settings: PlatformSettings, district_id: str = "chengzhong") -> tuple[str, str]:
    key = settings.id_signing_key.get_secret_value().encode()
    request_id = mint_request_id(key, district_id)
    return request_id, access_token(key, request_id)


class TestResidentStream:
    async def test_reconnect_mid_stream_on_the_other_replica_gets_the_missed_events_exactly_once(
        self, notify_replicas: Replicas, status_publisher: EventPublisher, platform_settings: PlatformSettings
    ) -> None:
        first, second = notify_replicas
        request_id, token = new_request(platform_settings)
        path = f"/v1/districts/chengzhong/requests/{request_id}/events?access_token={token}"

        async def publish(sequence: int) -> None:
            await publish_status(
                status_publisher,
                platform_settings,
                district_id="chengzhong",
                request_id=request_id,
                event_type=REQUEST_STARTED if sequence > 1 else REQUEST_RECEIVED,
                sequence=sequence,
                grid_id="xgll-01",
            )

        async with sse(first.url + path) as stream:
            for sequence in (1, 2, 3):
                await publish(sequence)
            seen = await stream.take(3)
        for sequence in (4, 5, 6):  # while the resident is offline
            await publish(sequence)

        async with sse(second.url + path, headers={"Last-Event-ID": seen[-1].id}) as stream:
            missed = await stream.take(3)
            await publish(7)
            live = await stream.next()
            assert await stream.nothing_within(1.5)

        assert [event.data["data"]["sequence"] for event in seen] == [1, 2, 3]
        assert [event.data["data"]["sequence"] for event in missed] == [4, 5, 6]
        assert live.data["data"]["sequence"] == 7
        positions = [int(event.id) for event in [*seen, *missed, live]]
        assert positions == sorted(positions) and len(set(positions)) == 7

    async def test_short_url_with_token_works_and_a_missing_or_wrong_token_is_refused(
        self, notify_replicas: Replicas, status_publisher: EventPublisher, platform_settings: PlatformSettings
    ) -> None:
        first, _ = notify_replicas
        request_id, token = new_request(platform_settings)
        other_id, other_token = new_request(platform_settings)
        await publish_status(
            status_publisher,
            platform_settings,
            district_id="chengzhong",
            request_id=request_id,
            event_type=REQUEST_RECEIVED,
            sequence=1,
        )
        async with sse(f"{first.url}/v1/requests/{request_id}/events?access_token={token}") as stream:
            received = await stream.next()
        async with httpx.AsyncClient(base_url=first.url, timeout=10) as client:
            missing = await client.get(f"/v1/requests/{request_id}/events")
            wrong = await client.get(f"/v1/requests/{request_id}/events?access_token={other_token}")
            other_district = await client.get(
                f"/v1/districts/chengxi/requests/{request_id}/events?access_token={token}"
            )

        assert received.event == REQUEST_RECEIVED and received.data["request_id"] == request_id
        assert missing.status_code == 401 and wrong.status_code == 401
        assert missing.headers["content-type"] == "application/problem+json"
        assert other_district.status_code == 404
        assert other_id != request_id

    async def test_a_resident_stream_answers_as_the_documented_route_on_both_urls(
        self, notify_replicas: Replicas, platform_settings: PlatformSettings
    ) -> None:
        """Resident streams are served beside FastAPI's router (services/notify/resident_fast_path.py): the same
        head, body, security headers, trace and metrics; malformed input still gets FastAPI's answers."""
        first, _ = notify_replicas
        request_id, token = new_request(platform_settings)
        urls = {
            "/v1/requests/{request_id}/events": f"/v1/requests/{request_id}/events",
            "/v1/districts/{district_id}/requests/{request_id}/events": (
                f"/v1/districts/chengzhong/requests/{request_id}/events"
            ),
        }
        async with httpx.AsyncClient(base_url=first.url, timeout=10) as client:
            for url in urls.values():
                async with client.stream("GET", url, params={"access_token": token}) as response:
                    greeting = await anext(response.aiter_text())
                    assert response.status_code == 200
                    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
                    assert response.headers["cache-control"] == "no-cache"
                    assert response.headers["x-accel-buffering"] == "no"
                    assert response.headers["x-content-type-options"] == "nosniff"
                    assert response.headers["referrer-policy"] == "no-referrer"
                    assert response.headers["traceparent"].startswith("00-")
                    assert greeting.startswith(f"retry: 2000\n: request {request_id}\n\n")
            malformed = await client.get(
                urls["/v1/requests/{request_id}/events"], params={"access_token": token, "after": "x"}
            )
            negative = await client.get(
                urls["/v1/requests/{request_id}/events"], params={"access_token": token, "after": "-1"}
            )
            metrics = (await client.get("/metrics")).text

        assert malformed.status_code == 422 and negative.status_code == 422
        assert malformed.headers["content-type"] == "application/problem+json"
        for template in urls:
            assert f'method="GET",route="{template}",service="notify",status="200"' in metrics

    async def test_cursor_behind_the_logs_retention_gets_an_explicit_reset(
        self, notify_replicas: Replicas, status_publisher: EventPublisher, platform_settings: PlatformSettings
    ) -> None:
        first, _ = notify_replicas
        district = f"d{uuid.uuid4().hex[:6]}"  # its own district; the tests before it are done with its partition
        request_id, token = new_request(platform_settings, district)
        path = f"{first.url}/v1/districts/{district}/requests/{request_id}/events?access_token={token}"
        for sequence in (1, 2):
            await publish_status(
                status_publisher,
                platform_settings,
                district_id=district,
                request_id=request_id,
                event_type=REQUEST_STARTED,
                sequence=sequence,
            )
        async with sse(path) as stream:
            old = await stream.take(2)
        # What retention does to a partition, done at once: the log now begins just after old[1], so a
        # client that saw only old[0] can no longer get everything it missed.
        seen_last = place_of(int(old[1].id))
        await delete_records_before(platform_settings, seen_last.partition, seen_last.next_offset)
        await asyncio.sleep(1.5)  # NOTIFY_HORIZON_REFRESH_SECONDS in the conftest: the replica looks again

        async with sse(path, headers={"Last-Event-ID": old[0].id}) as stream:
            reset = await stream.next()
            await publish_status(
                status_publisher,
                platform_settings,
                district_id=district,
                request_id=request_id,
                event_type=REQUEST_STARTED,
                sequence=3,
            )
            after_reset = await stream.next()
        async with sse(f"{path}&after=999999") as stream:
            unknown_cursor = await stream.next()

        assert reset.event == "reset" and "reload" in reset.data["reason"]
        assert int(reset.id) == reset.data["resume_after"] >= int(old[1].id)
        assert after_reset.data["data"]["sequence"] == 3 and int(after_reset.id) > int(reset.id)
        assert unknown_cursor.event == "reset"


class TestOperatorStream:
    async def test_operator_sees_own_district_only_with_filters(
        self,
        notify_replicas: Replicas,
        status_publisher: EventPublisher,
        platform_settings: PlatformSettings,
        db: AsyncDatabase[Document],
    ) -> None:
        first, second = notify_replicas
        keys = ApiKeyRepository(db)
        operator_a = await keys.create(district_id="chengzhong", role=Role.OPERATOR, subject="desk-a")
        grid_a = f"g{uuid.uuid4().hex[:6]}"
        mine, _ = new_request(platform_settings, "chengzhong")
        theirs, _ = new_request(platform_settings, "chengxi")
        headers = {"Authorization": f"Bearer {operator_a}"}

        async with (
            sse(f"{first.url}/v1/districts/chengzhong/events?after=999999999", headers=headers) as everything,
            sse(
                f"{second.url}/v1/districts/chengzhong/events?grid_id={grid_a}&status=assigned", headers=headers
            ) as filtered,
        ):
            await everything.next()  # the reset for a cursor from nowhere: from here on, live events only
            for district_id, request_id in (("chengxi", theirs), ("chengzhong", mine)):
                for sequence, event_type in ((1, REQUEST_RECEIVED), (2, REQUEST_ASSIGNED)):
                    await publish_status(
                        status_publisher,
                        platform_settings,
                        district_id=district_id,
                        request_id=request_id,
                        event_type=event_type,
                        sequence=sequence,
                        grid_id=grid_a,
                        volunteer_id="v-li-jianguo",
                    )
            received = await everything.take(2)
            only_assigned = await filtered.next()
            assert await everything.nothing_within(1.0)
            assert await filtered.nothing_within(0.5)
        async with httpx.AsyncClient(timeout=10) as client:
            other_district = await client.get(f"{first.url}/v1/districts/chengxi/events", headers=headers)
            no_key = await client.get(f"{first.url}/v1/districts/chengzhong/events")

        assert {event.data["district_id"] for event in received} == {"chengzhong"}
        assert [event.data["request_id"] for event in received] == [mine, mine]
        assert only_assigned.event == REQUEST_ASSIGNED and only_assigned.data["request_id"] == mine
        assert other_district.status_code == 404
        assert no_key.status_code == 401


class TestVolunteerStream:
    async def test_volunteer_gets_own_offers_over_websocket_in_the_sse_format(
        self,
        notify_replicas: Replicas,
        status_publisher: EventPublisher,
        platform_settings: PlatformSettings,
        db: AsyncDatabase[Document],
    ) -> None:
        _, second = notify_replicas
        volunteer = f"v-{uuid.uuid4().hex[:6]}"
        key = await ApiKeyRepository(db).create(district_id="chengzhong", role=Role.VOLUNTEER, subject=volunteer)
        offered, _ = new_request(platform_settings)
        not_mine, _ = new_request(platform_settings)
        ws_url = second.url.replace("http://", "ws://") + f"/v1/volunteers/me/ws?api_key={key}&after=999999999"

        async with websockets.connect(ws_url) as socket:
            reset = json.loads(await asyncio.wait_for(socket.recv(), 10))
            await publish_status(
                status_publisher,
                platform_settings,
                district_id="chengzhong",
                request_id=not_mine,
                event_type=REQUEST_OFFERED,
                sequence=1,
                volunteer_ids=["v-someone-else"],
            )
            await publish_status(
                status_publisher,
                platform_settings,
                district_id="chengzhong",
                request_id=offered,
                event_type=REQUEST_OFFERED,
                sequence=1,
                volunteer_ids=["v-someone-else", volunteer],
            )
            message = json.loads(await asyncio.wait_for(socket.recv(), 10))
        async with sse(f"{second.url}/v1/volunteers/me/events", headers={"X-API-Key": key}) as stream:
            replayed = await stream.next()

        assert reset["event"] == "reset"
        assert message["event"] == REQUEST_OFFERED and message["data"]["request_id"] == offered
        assert replayed.id == message["id"] and replayed.data == message["data"]
