"""The status log as notify's history: a follower that reads every partition into memory, and readers of the past.

Every replica follows the whole of `grid.status.v2` without a consumer group (nothing to commit: a replica
that restarts reads the log's recent part again). At start it seeks each partition back by
`NOTIFY_STARTUP_BACKFILL` records, so streams that reconnect to a restarted replica find their recent
history in memory; from then on it hands each record to the feeds as it arrives. A stream whose cursor lies
before what memory holds reads the gap from Kafka with a short-lived assignment of one partition: a seek
and bounded batches, at most `NOTIFY_LOG_READERS` at once. The horizon is the topic's retention: a cursor
before the partition's first offset gets `reset`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, OffsetOutOfRangeError

from services.notify.domain.audiences import Scope
from services.notify.feed import FeedHub, LiveEvent, RecentHistory, render
from shared.contracts import EventEnvelope
from shared.kafka import client_options

log = logging.getLogger(__name__)
READ_BATCH = 500


def log_consumer(bootstrap: str, *, reset: str) -> AIOKafkaConsumer:
    """A consumer without a group: partitions are assigned by hand, offsets never committed."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset=reset,
        isolation_level="read_committed",
        **client_options(),
    )


async def partitions_of(bootstrap: str, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
    await admin.start()
    try:
        for _ in range(50):  # the topic exists (ensure_topics ran); its metadata may lag a moment
            for described in await admin.describe_topics([topic]):
                found = sorted(int(p["partition"]) for p in described.get("partitions", ()))
                if described.get("topic") == topic and found:
                    return found
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    raise RuntimeError(f"no partitions of {topic}")


def parse(partition: int, offset: int, value: bytes | None) -> LiveEvent | None:
    """A record as a stream event; None for one that is not a status event (the consumer dead-letters it)."""
    if value is None:
        return None
    try:
        return render(partition, offset, EventEnvelope.from_bytes(value), value)
    except Exception as exc:
        log.warning("status record %d:%d is not a status event, skipped in streams: %s", partition, offset, exc)
        return None


class StatusLogFollower:
    def __init__(
        self, *, bootstrap: str, topic: str, hub: FeedHub, backfill: int, horizon_refresh_seconds: float
    ) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._hub = hub
        self._backfill = backfill
        self._refresh = horizon_refresh_seconds
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._ends: dict[int, int] = {}

    async def start(self) -> None:
        consumer = log_consumer(self._bootstrap, reset="earliest")
        await consumer.start()
        self._consumer = consumer
        partitions = await partitions_of(self._bootstrap, self._topic)
        self._partitions = [TopicPartition(self._topic, p) for p in partitions]
        consumer.assign(self._partitions)
        for attempt in range(1, 31):  # a topic created a moment ago may not have its leaders yet
            try:
                begins = await consumer.beginning_offsets(self._partitions)
                ends = await consumer.end_offsets(self._partitions)
                break
            except KafkaError:
                if attempt == 30:
                    raise
                await asyncio.sleep(0.5)
        starts = {tp.partition: max(begins[tp], ends[tp] - self._backfill) for tp in self._partitions}
        for tp in self._partitions:
            consumer.seek(tp, starts[tp.partition])
        self._hub.begin(starts, {tp.partition: begins[tp] for tp in self._partitions})
        self._ends = {tp.partition: ends[tp] for tp in self._partitions}
        log.info("following %s from %s (log ends at %s)", self._topic, starts, self._ends)
        self._check_ready()

    def _check_ready(self) -> None:
        if not self._hub.ready.is_set() and all(self._hub.watermark[p] >= end for p, end in self._ends.items()):
            self._hub.ready.set()
            log.info("recent history read: %d events in memory", self._hub.recent_events)

    async def run(self) -> None:
        consumer = self._consumer
        assert consumer is not None, "start() first"
        next_refresh = time.monotonic() + self._refresh
        try:
            while True:
                try:
                    batches = await consumer.getmany(timeout_ms=1000, max_records=READ_BATCH)
                    for tp, records in batches.items():
                        for record in records:
                            live = parse(tp.partition, record.offset, record.value)
                            if live is None:
                                self._hub.passed(tp.partition, record.offset + 1)
                            else:
                                self._hub.deliver(live)
                    for tp in self._partitions:  # past transaction markers, which carry no record
                        self._hub.passed(tp.partition, await consumer.position(tp))
                    self._check_ready()
                    if time.monotonic() >= next_refresh:
                        next_refresh = time.monotonic() + self._refresh
                        begins = await consumer.beginning_offsets(self._partitions)
                        self._hub.log_start.update({tp.partition: offset for tp, offset in begins.items()})
                except KafkaError:
                    log.exception("reading the status log failed; retrying")
                    await asyncio.sleep(1)
        finally:
            await consumer.stop()

    async def log_end(self, partition: int) -> int:
        assert self._consumer is not None
        tp = TopicPartition(self._topic, partition)
        ends = await self._consumer.end_offsets([tp])
        return int(ends[tp])


# Older history is read from Kafka in blocks of BLOCK_OFFSETS offsets of a partition. A district's events of a
# block are kept (indexed like recent history) for SCANNED_KEEP_SECONDS, at most SCANNED_MAX_EVENTS events in
# all, least recently used dropped first: a reconnect storm whose cursors spread over thousands of offsets then
# costs one scan of each block, and each stream picks its own events out of them by request or volunteer.
BLOCK_OFFSETS = 4096
SCANNED_KEEP_SECONDS = 30.0
SCANNED_MAX_EVENTS = 50_000  # about 1.5 KB each with their indexes
UNBOUNDED = 1 << 62

BlockKey = tuple[str, int, int]  # district, partition, block number


@dataclass
class ScannedBlock:
    """One district's events at offsets [start, end) of a partition (end < the block's limit when the rest of
    it was in memory, or not yet written, when it was read)."""

    start: int
    end: int
    events: RecentHistory
    used_at: float

    def fresh(self) -> bool:
        return time.monotonic() - self.used_at < SCANNED_KEEP_SECONDS

    def covers(self, start: int, end: int) -> bool:
        return self.start <= start and end <= self.end and self.fresh()


class LogHistoryReader:
    """Reads one district's events of an offset range from Kafka, block by block, a few blocks at a time."""

    def __init__(self, *, bootstrap: str, topic: str, readers: int, timeout_seconds: float) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._timeout = timeout_seconds
        self._idle: asyncio.Queue[AIOKafkaConsumer] = asyncio.Queue()
        self._slots = asyncio.Semaphore(readers)
        self._all: list[AIOKafkaConsumer] = []
        self._blocks: OrderedDict[BlockKey, ScannedBlock] = OrderedDict()  # least recently used first
        self._scanning: dict[BlockKey, asyncio.Task[ScannedBlock | None]] = {}
        self.records_read = 0
        self.served_from_scan = 0  # reads answered from kept blocks alone

    @contextlib.asynccontextmanager
    async def _reader(self) -> AsyncIterator[AIOKafkaConsumer]:
        if self._idle.empty():
            consumer = log_consumer(self._bootstrap, reset="none")
            await consumer.start()
            self._all.append(consumer)
        else:
            consumer = self._idle.get_nowait()
        try:
            yield consumer
        finally:
            consumer.unsubscribe()
            self._idle.put_nowait(consumer)

    @property
    def kept_events(self) -> int:
        return sum(len(block.events) for block in self._blocks.values())

    async def read(
        self, district_id: str, scope: Scope, partition: int, start: int, end: int
    ) -> list[LiveEvent] | None:
        """The scope's events at offsets [start, end) of the partition; None when `start` left the log (or a
        read took longer than NOTIFY_LOG_READ_TIMEOUT_SECONDS): the stream then gets `reset`."""
        found: list[LiveEvent] = []
        scanned = False
        for number in range(start // BLOCK_OFFSETS, (end - 1) // BLOCK_OFFSETS + 1 if end > start else 0):
            block_start = number * BLOCK_OFFSETS
            wanted = (max(start, block_start), min(end, block_start + BLOCK_OFFSETS))
            key = (district_id, partition, number)
            block = self._kept(key, *wanted)
            if block is None:
                scanned = True
                # The whole block from its first offset, so that other cursors in it find it read; when that
                # offset has left the log (retention), from the wanted one.
                block = await self._block(key, block_start, *wanted)
                if block is None and wanted[0] > block_start:
                    block = await self._block(key, wanted[0], *wanted)
                if block is None:
                    return None
            found += block.events.between(scope, *wanted)
        if not scanned:
            self.served_from_scan += 1
        return found

    def _kept(self, key: BlockKey, start: int, end: int) -> ScannedBlock | None:
        block = self._blocks.get(key)
        if block is None or not block.covers(start, end):
            return None
        block.used_at = time.monotonic()
        self._blocks.move_to_end(key)
        return block

    async def _block(self, key: BlockKey, scan_from: int, start: int, end: int) -> ScannedBlock | None:
        """The block read from `scan_from` up to `end`: one scan however many streams ask for it at once."""
        while True:
            running = self._scanning.get(key)
            if running is None:
                break
            block = await asyncio.shield(running)
            if block is None or block.covers(start, end):
                return block
        task = asyncio.create_task(self._scan_block(key, scan_from, end))
        self._scanning[key] = task
        return await asyncio.shield(task)

    async def _scan_block(self, key: BlockKey, scan_from: int, upto: int) -> ScannedBlock | None:
        district_id, partition, _ = key
        try:
            async with self._slots:
                events = await self._scan(district_id, partition, scan_from, upto)
        finally:
            self._scanning.pop(key, None)
        if events is None:
            self._blocks.pop(key, None)
            return None
        history = RecentHistory(UNBOUNDED, scan_from)
        for live in events:
            history.append(live)
        block = ScannedBlock(scan_from, upto, history, time.monotonic())
        self._blocks[key] = block
        self._blocks.move_to_end(key)
        self._forget_old()
        return block

    def _forget_old(self) -> None:
        kept = self.kept_events
        while self._blocks:
            key, oldest = next(iter(self._blocks.items()))
            if oldest.fresh() and kept <= SCANNED_MAX_EVENTS:
                return
            kept -= len(oldest.events)
            del self._blocks[key]

    async def _scan(self, district_id: str, partition: int, start: int, end: int) -> list[LiveEvent] | None:
        key = district_id.encode()
        tp = TopicPartition(self._topic, partition)
        found: list[LiveEvent] = []
        async with self._reader() as consumer:
            consumer.assign([tp])
            consumer.seek(tp, start)
            position = start
            try:
                async with asyncio.timeout(self._timeout):
                    while position < end:
                        batches = await consumer.getmany(tp, timeout_ms=1000, max_records=READ_BATCH)
                        for record in batches.get(tp, []):
                            if record.offset >= end:
                                return found
                            self.records_read += 1
                            # The key first: most records of the partition are other districts'.
                            if record.key != key or record.value is None:
                                continue
                            live = parse(partition, record.offset, record.value)
                            if live is not None and live.district_id == district_id:
                                found.append(live)
                        position = max(position, await consumer.position(tp))
            except OffsetOutOfRangeError:
                return None
            except TimeoutError:
                # A client asking for days of a busy partition would otherwise retry the same read forever.
                log.warning(
                    "reading %s offsets %d-%d of partition %d took over %ss; the stream gets reset",
                    district_id,
                    start,
                    end,
                    partition,
                    self._timeout,
                )
                return None
        return found

    async def close(self) -> None:
        for consumer in self._all:
            await consumer.stop()
