"""The owner of its input partitions: restore, apply each poll batch in memory, write, publish, commit.

Every message is keyed by district, so a partition owns whole districts. On assignment the owner raises
the partition's epoch (see `store`), then restores each district of the partition from its live documents.
Per poll batch, in this order: decode (unreadable messages go to the dead-letter topic), fetch by `_id`
what memory lacks (a closed request a command names, reference data), apply every message and due timer
with the pure rules, write the changed documents in one bulk by `_id`, publish their outboxes pipelined,
and only then commit the offsets. A crash anywhere before the commit redelivers the batch; redelivery is
a no-op (processed ids per request, and a submission whose offset may already be written is looked up by
`_id` first: `written_through`). Waits are bounded, so a rebalance is never blocked for long: the revoke
callback takes the same lock as a batch, and a batch's commit gives up after `commit_timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.partitioner import murmur2
from prometheus_client import Counter
from pydantic import ValidationError

from services.dispatch import care_rates, service_record, volunteer_tasks
from services.dispatch.care import care_log_documents, open_care_work
from services.dispatch.district import District, restored_roster
from services.dispatch.domain.matching import Place
from services.dispatch.handlers import Rules
from services.dispatch.read_models.maintainer import ReadModelMaintainer
from services.dispatch.reference import Keys, ReferenceCache
from services.dispatch.request import Request
from services.dispatch.store import DispatchStore, Fenced, Lease
from shared import tracing
from shared.contracts import (
    REQUEST_SUBMITTED,
    VOLUNTEER_CHANGED,
    VOLUNTEER_REMOVED,
    EventEnvelope,
    RequestSubmitted,
    UnknownEventError,
    VolunteerChangedV1,
    VolunteerRemovedV1,
    decode_data,
)
from shared.contracts.care import CARE_PLAN_CHANGED, CARE_PLAN_REMOVED, CarePlanChangedV1, CarePlanRemovedV1
from shared.contracts.commands import Command
from shared.kafka import EventPublisher

log = logging.getLogger(__name__)

STATUS_EVENTS_PUBLISHED = Counter(
    "dispatch_status_events_published_total", "Status events published (republished ones included)", ["type"]
)
# Idle wake-ups to fire timers and write emptied outboxes; nothing is read while idle.
MAX_IDLE_WAIT: Final = 1.0
REMATCH_EVERY_SECONDS: Final = 60.0


def now_ms() -> datetime:
    """The database keeps milliseconds; deciding with the same precision keeps timers comparable."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def partition_of(district_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as intake's producer uses) sends a district to."""
    return int(murmur2(district_id.encode()) & 0x7FFFFFFF) % partitions


@dataclass
class OwnerStats:
    handled: int = 0
    dead_lettered: int = 0
    timers_fired: int = 0
    care_created: int = 0
    fenced: int = 0
    last_loop: float = field(default_factory=time.monotonic)
    lag_by_partition: dict[int, int] = field(default_factory=dict)

    @property
    def lag(self) -> int:
        return sum(self.lag_by_partition.values())


@dataclass
class OwnedPartition:
    tp: TopicPartition
    lease: Lease
    districts: dict[str, District] = field(default_factory=dict)
    # Requests whose outbox was published after their last write: emptied in the next write.
    published: set[str] = field(default_factory=set)
    # The trace of the last message applied to each request since the last flush.
    traces: dict[str, str] = field(default_factory=dict)
    broken: bool = False


@dataclass(frozen=True)
class OwnerSettings:
    topic: str
    status_topic: str
    dead_letter_topic: str
    instance_id: str
    default_timezone: str
    rules: Rules
    max_records: int = 500
    commit_timeout: float = 10.0
    revoke_timeout: float = 20.0


class DispatchOwner:
    def __init__(
        self, consumer: AIOKafkaConsumer, store: DispatchStore, publisher: EventPublisher, settings: OwnerSettings
    ) -> None:
        self._consumer = consumer
        self._store = store
        self._publisher = publisher
        self._settings = settings
        self._reference = ReferenceCache(store.reference)
        self._read_models = ReadModelMaintainer(store.read_model)
        self._partitions: dict[int, OwnedPartition] = {}
        self._lock = asyncio.Lock()
        self._last_rematch = time.monotonic()
        self.stats = OwnerStats()

    # -- ownership -----------------------------------------------------------------------------
    def listener(self) -> ConsumerRebalanceListener:
        owner = self

        class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
                await owner._revoked(revoked)

            async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
                await owner._assigned(assigned)

        return Listener()

    async def _revoked(self, revoked: Iterable[TopicPartition]) -> None:
        try:
            await asyncio.wait_for(self._lock.acquire(), self._settings.revoke_timeout)
        except TimeoutError:
            log.warning(
                "a batch still runs after %.0fs; dropping the revoked partitions anyway", self._settings.revoke_timeout
            )
            for tp in revoked:
                self._partitions.pop(tp.partition, None)
            return
        try:
            for tp in revoked:
                self._partitions.pop(tp.partition, None)
        finally:
            self._lock.release()

    async def _assigned(self, assigned: Iterable[TopicPartition]) -> None:
        async with self._lock:
            for tp in sorted(assigned, key=lambda t: t.partition):
                try:
                    await self._take(tp)
                except Exception:
                    log.exception("restoring partition %s failed; will retry before its next batch", tp.partition)
                    self._partitions[tp.partition] = OwnedPartition(tp, Lease("", 0, 0, None, -1), broken=True)

    async def _take(self, tp: TopicPartition) -> None:
        started = time.monotonic()
        lease = await self._store.claim(f"{tp.topic}:{tp.partition}", self._settings.instance_id)
        part = OwnedPartition(tp, lease)
        partitions = len(self._consumer.partitions_for_topic(tp.topic) or ()) or 1
        for district_id in await self._store.districts():
            if partition_of(district_id, partitions) == tp.partition:
                await self._restore(part, district_id)
        self._partitions[tp.partition] = part
        live = sum(len(d.requests) for d in part.districts.values())
        log.info(
            "own partition %s at epoch %d: %d districts, %d live requests, restored in %.2fs",
            tp.partition, lease.epoch, len(part.districts), live, time.monotonic() - started,
        )  # fmt: skip

    async def _restore(self, part: OwnedPartition, district_id: str) -> District:
        restored = await self._store.restore(district_id)
        await self._reference.ensure([Keys.district(district_id)])
        requests = [Request.from_document(document) for document in restored.requests]
        district = District(
            district_id,
            reference=self._reference,
            rules=self._settings.rules,
            tz=self._timezone(district_id),
            roster=restored_roster(district_id, restored.volunteers, requests, restored.loads),
        )
        for request in requests:
            district.adopt(request)
        for plan_id in district.restore_care(restored.care_plans, restored.care_cursors, now_ms()):
            log.error("care plan %s of district %s cannot be scheduled; skipped", plan_id, district_id)
        board = self._read_models.restored(district, restored.requests, now_ms(), part.lease.epoch)
        await self._store.write_read_models(part.lease, board)
        places = {r.place for r in district.requests.values()}
        await self._reference.ensure(k for place in places for k in Keys.responsible(place))
        part.districts[district_id] = district
        return district

    def _timezone(self, district_id: str) -> ZoneInfo:
        name = self._reference.timezone(district_id, self._settings.default_timezone)
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            log.warning(
                "district %s has an unknown time zone %r; using %s", district_id, name, self._settings.default_timezone
            )
            return ZoneInfo(self._settings.default_timezone)

    # -- the loop ------------------------------------------------------------------------------
    async def run_forever(self) -> None:
        while True:
            self.stats.last_loop = time.monotonic()
            try:
                batches = await self._consumer.getmany(
                    timeout_ms=int(self._idle_wait() * 1000), max_records=self._settings.max_records
                )
                async with self._lock:
                    for tp, messages in batches.items():
                        part = self._partitions.get(tp.partition)
                        if part is not None and messages:
                            await self._batch(part, messages)
                    await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dispatch loop failed; continuing")
                await asyncio.sleep(1.0)

    def _idle_wait(self) -> float:
        due = [d.next_timer_at() for p in self._partitions.values() for d in p.districts.values()]
        soonest = min((d for d in due if d is not None), default=None)
        if soonest is None:
            return MAX_IDLE_WAIT
        return max(0.0, min(MAX_IDLE_WAIT, (soonest - datetime.now(UTC)).total_seconds()))

    async def _tick(self) -> None:
        """Due timers, the periodic re-match of waiting requests, outboxes to empty: memory only until a write."""
        now = now_ms()
        rematch = time.monotonic() - self._last_rematch >= REMATCH_EVERY_SECONDS
        if rematch:
            self._last_rematch = time.monotonic()
        for part in list(self._partitions.values()):
            if part.broken:
                await self._repair(part)
                continue
            for district in part.districts.values():
                self.stats.timers_fired += district.fire_due_timers(now)
                if rematch:
                    district.rematch_waiting(now)
            if await self._open_care(part, now):
                await self._flush(part, None)

    async def _batch(self, part: OwnedPartition, messages: list[ConsumerRecord[bytes, bytes]]) -> None:
        if part.broken:
            await self._repair(part)  # these messages are read again from the last commit
            return
        decoded: list[tuple[ConsumerRecord[bytes, bytes], EventEnvelope, object]] = []
        dead: list[tuple[ConsumerRecord[bytes, bytes], str]] = []
        for message in messages:
            try:
                envelope = EventEnvelope.from_bytes(message.value or b"")
                decoded.append((message, envelope, decode_data(envelope)))
            except (ValidationError, UnknownEventError, ValueError) as exc:
                log.warning("unreadable event at %s:%s:%s: %s", message.topic, message.partition, message.offset, exc)
                dead.append((message, f"{type(exc).__name__}: {exc}"))
        try:
            await self._prefetch(part, decoded)
        except Fenced:
            raise
        except Exception:
            log.exception(
                "reading what partition %s needs failed; it will be restored and read again", part.tp.partition
            )
            part.broken = True
            return
        now = now_ms()
        for message, envelope, payload in decoded:
            token = tracing.activate(tracing.continue_from_headers(message.headers))
            try:
                self._apply(part, envelope, payload, now)
                trace = tracing.current()
                if envelope.request_id is not None and trace is not None:
                    part.traces[envelope.request_id] = trace.traceparent()
                self.stats.handled += 1
                # One line per handled event: with the trace id, it ties dispatch's work to the caller.
                log.info(
                    "handled %s", envelope.type, extra={"request_id": envelope.request_id, "event_id": envelope.id}
                )
            except Exception as exc:
                log.exception(
                    "cannot apply %s %s", envelope.type, envelope.id, extra={"request_id": envelope.request_id}
                )
                dead.append((message, f"{type(exc).__name__}: {exc}"))
            finally:
                tracing.deactivate(token)
        for district in part.districts.values():
            self.stats.timers_fired += district.fire_due_timers(now)
        if not await self._open_care(part, now):
            return  # restored and read again from the last commit
        last = messages[-1]
        highwater = self._consumer.highwater(part.tp)
        if highwater is not None:
            self.stats.lag_by_partition[part.tp.partition] = max(highwater - last.offset - 1, 0)
        await self._flush(part, last.offset, dead)

    async def _open_care(self, part: OwnedPartition, now: datetime) -> bool:
        """Scheduled care due now (occurrences, welfare checks, needs), each read by `_id` before it is created."""
        try:
            for district in part.districts.values():
                self.stats.care_created += await open_care_work(district, self._store, self._reference, now)
        except Exception:
            log.exception("opening care work of partition %s failed; it will be restored", part.tp.partition)
            part.broken = True
            return False
        return True

    async def _prefetch(
        self, part: OwnedPartition, decoded: list[tuple[ConsumerRecord[bytes, bytes], EventEnvelope, object]]
    ) -> None:
        """Read by `_id` what applying the batch needs and memory lacks, so applying is synchronous."""
        keys = []
        for message, envelope, payload in decoded:
            district = part.districts.get(envelope.district_id) or await self._restore(part, envelope.district_id)
            request_id = envelope.request_id
            if request_id is None or request_id in district.requests:
                continue
            maybe_written = message.offset <= part.lease.written_through
            if isinstance(payload, Command) or (isinstance(payload, RequestSubmitted) and maybe_written):
                document = await self._store.request(request_id)
                if document is not None and document.get("district_id") == envelope.district_id:
                    district.adopt(Request.from_document(document))
            if isinstance(payload, RequestSubmitted):
                d = envelope.district_id
                grid = Keys.grid(d, payload.grid_id)
                await self._reference.ensure([grid])
                community = payload.community_id or (self._reference.get(grid) or {}).get("community_id") or ""
                keys.append(Keys.menu_item(d, community, payload.menu_item_code))
                street = payload.street_office_id or (self._reference.get(grid) or {}).get("street_office_id") or ""
                keys.extend(Keys.responsible(Place(d, street, community, payload.grid_id)))
        await self._reference.ensure(keys)

    def _apply(self, part: OwnedPartition, envelope: EventEnvelope, payload: object, now: datetime) -> None:
        district = part.districts[envelope.district_id]
        if envelope.type == REQUEST_SUBMITTED and isinstance(payload, RequestSubmitted):
            district.submit(envelope, payload, now)
        elif isinstance(payload, Command):
            if district.command(envelope, payload, now) is None:
                log.warning("command %s for unknown request", envelope.id, extra={"request_id": envelope.request_id})
        elif envelope.type == VOLUNTEER_CHANGED and isinstance(payload, VolunteerChangedV1):
            district.volunteer_changed(payload, now)
        elif envelope.type == VOLUNTEER_REMOVED and isinstance(payload, VolunteerRemovedV1):
            district.volunteer_removed(payload)
        elif envelope.type == CARE_PLAN_CHANGED and isinstance(payload, CarePlanChangedV1):
            district.plan_changed(payload, envelope.time)
        elif envelope.type == CARE_PLAN_REMOVED and isinstance(payload, CarePlanRemovedV1):
            district.plan_removed(payload)
        else:
            raise UnknownEventError(f"dispatch does not handle {envelope.type!r}")

    async def _flush(
        self,
        part: OwnedPartition,
        offset: int | None,
        dead: list[tuple[ConsumerRecord[bytes, bytes], str]] | None = None,
    ) -> None:
        """Write, publish, commit — in that order; a fenced replica stops before publishing."""
        requests: dict[str, Request] = {}
        loads = {}
        cursors = []
        for district in part.districts.values():
            changes = district.take_changes()
            requests.update(changes.requests)
            loads.update(changes.loads)
            cursors += district.care.take_cursors()
        try:
            if requests or loads or cursors or part.published or offset is not None:
                if offset is not None:
                    await self._store.written_through(part.lease, offset)
                await self._store.check(part.lease)
                await self._write_read_models(part, requests.values())
                rates = care_rates.updates(requests.values())  # marks them counted: before the documents
                documents = []
                for request in requests.values():
                    request.version += 1
                    documents.append(request.to_document(epoch=part.lease.epoch))
                # Read models first: see services/dispatch/read_models/maintainer.py for why the order matters.
                read_models = await self._read_models.changed(
                    part.districts, documents, loads.values(), now_ms(), part.lease.epoch
                )
                await self._store.write_read_models(part.lease, read_models)
                refused = await self._store.write(part.lease, documents, loads.values(), part.published)
                await self._store.write_care(part.lease, cursors, care_log_documents(requests.values()), rates)
                part.published = set()
                await self._store.check(part.lease)
                for request_id in refused:
                    # Poison for the database: its last stored state stands, and nothing of it is published.
                    requests.pop(request_id, None)
                    for district in part.districts.values():
                        district.requests.pop(request_id, None)
            events = [EventEnvelope.model_validate(e) for r in requests.values() for e in r.outbox]
            # Each status event continues the trace of the message that caused it.
            traces = {e.id: part.traces[e.request] for e in events if e.request_id in part.traces}
            await self._publisher.publish_many(self._settings.status_topic, events, traces)
            part.traces = {}
            for event in events:
                STATUS_EVENTS_PUBLISHED.labels(event.type).inc()
            for message, error in dead or ():
                await self._dead_letter(message, error)
        except Fenced as exc:
            log.warning("fenced off partition %s: %s; dropping its state", part.tp.partition, exc)
            self.stats.fenced += 1
            self._partitions.pop(part.tp.partition, None)
            self._consumer.pause(part.tp)
            return
        except Exception:
            log.exception(
                "writing or publishing partition %s failed; it will be restored and read again", part.tp.partition
            )
            part.broken = True
            return
        for request in requests.values():
            request.changed = False
            if request.outbox:
                request.outbox = []
                part.published.add(request.id)
        for district in part.districts.values():
            district.forget_closed()
        if offset is not None:
            await self._commit(part.tp, offset + 1)

    async def _write_read_models(self, part: OwnedPartition, changed: Iterable[Request]) -> None:
        """The volunteers' task lists and service records of this batch, before its requests (each module
        says why that order is safe and why a redelivery writes the same)."""
        by_district: dict[str, list[Request]] = {}
        for request in changed:
            by_district.setdefault(request.district_id, []).append(request)
        now = now_ms()
        for district_id, mine in by_district.items():
            district = part.districts[district_id]
            touched = volunteer_tasks.touched_volunteers(mine)
            tasks = volunteer_tasks.documents(district_id, district.requests, touched, now=now, epoch=part.lease.epoch)
            await self._store.write_read_model(part.lease, volunteer_tasks.COLLECTION, replace=tasks)
            records = service_record.updates(mine, district.tz)
            await self._store.write_read_model(part.lease, service_record.COLLECTION, set_fields=records)

    async def _commit(self, tp: TopicPartition, offset: int) -> None:
        try:
            await asyncio.wait_for(self._consumer.commit({tp: offset}), self._settings.commit_timeout)
        except (CommitFailedError, KafkaError, TimeoutError) as exc:
            # The partition moved during a rebalance: the next owner reads these again, harmlessly.
            log.info("commit of %s:%s at %s refused: %r", tp.topic, tp.partition, offset, exc)

    async def _repair(self, part: OwnedPartition) -> None:
        """After a failed read or write: restore the partition from the database and read on from the last
        commit, so that what was applied in memory but not written is applied again."""
        try:
            committed = await self._consumer.committed(part.tp)
            await self._take(part.tp)
        except Exception:
            log.exception("restoring partition %s failed; retrying", part.tp.partition)
            await asyncio.sleep(1.0)
            return
        self._consumer.seek(part.tp, committed if committed is not None else 0)

    async def _dead_letter(self, message: ConsumerRecord[bytes, bytes], error: str) -> None:
        headers = [
            *(message.headers or []),
            ("dead_letter_error", error[:1000].encode()),
            ("source_topic", message.topic.encode()),
            ("source_partition", str(message.partition).encode()),
            ("source_offset", str(message.offset).encode()),
        ]
        await self._publisher.publish_raw(self._settings.dead_letter_topic, message.key, message.value or b"", headers)
        self.stats.dead_lettered += 1

    # -- what readiness and metrics see --------------------------------------------------------
    def healthy(self, stale_after: float = 60.0) -> bool:
        return time.monotonic() - self.stats.last_loop < stale_after

    def owned(self) -> dict[str, int]:
        return {
            "partitions": len(self._partitions),
            "districts": sum(len(p.districts) for p in self._partitions.values()),
            "live_requests": sum(len(d.requests) for p in self._partitions.values() for d in p.districts.values()),
        }


async def stop_quietly(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
