"""Where a notify replica starts reading a status partition: never before its history window.

Every replica consumes in a group of its own (`<NOTIFY_GROUP>-<NOTIFY_INSTANCE_ID>`) and stores each event
once, by event id. That only deduplicates what is still stored: the sweep deletes events (and raises the
district's floor) after NOTIFY_HISTORY_HOURS. A group that starts from the log's beginning (a new replica id:
a pod renamed by a Deployment rollout, a scale-up) or from an offset committed long ago (a replica that was
scaled down for days) would re-store events older than the history at new positions: streams would show
week-old changes as new, and webhooks would fire again. So on every assignment a partition whose committed
offset is missing, or lies before the first event of the window, starts at that first event instead.

Events inside the window are still re-read after such a start, and are still stored, so their ids
deduplicate them. The window's start is moved `HISTORY_MARGIN` later than the sweep's cutoff, so that
an event re-read at its edge cannot have been swept while the replica catches up. What this gives up:
events older than the window that no replica stored at all (every replica down for longer than the
history) are not stored late; they would have left the history anyway.

Issue 10 replaces stored positions with positions in the log; this module then goes away.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

log = logging.getLogger(__name__)

HISTORY_MARGIN = timedelta(hours=1)
ATTEMPTS = 5


def start_offset(committed: int | None, first_in_window: int) -> int | None:
    """The offset to seek to, or None to resume from the committed offset."""
    if committed is None or committed < first_in_window:
        return first_in_window
    return None


def window_start_ms(history: timedelta, now: float | None = None) -> int:
    margin = min(HISTORY_MARGIN, history / 10)
    return int(((time.time() if now is None else now) - (history - margin).total_seconds()) * 1000)


class StartInHistoryWindow(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: AIOKafkaConsumer, history: timedelta) -> None:
        self._consumer = consumer
        self._history = history
        self.started_at: dict[TopicPartition, int] = {}  # for tests and logs: partitions moved, and where

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if not assigned:
            return
        # The fetcher runs while this listener awaits its look-ups: unpaused, it would reset the new
        # partitions to the earliest offset and hand the first old records to the consumer loop before the
        # seek below (seen under load). Pausing before the first await stops that; seek drops what it fetched.
        self._consumer.pause(*assigned)
        try:
            # aiokafka logs and swallows a listener's exception, then resumes from the committed offset or the
            # earliest one: exactly the replay this prevents. So retry the look-ups a few times before that.
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    await self._move(sorted(assigned))
                    return
                except Exception:
                    if attempt == ATTEMPTS:
                        log.exception("could not find the history window's start; resuming from committed offsets")
                        raise
                    log.warning("looking up the history window's start failed (attempt %d); retrying", attempt)
        finally:
            self._consumer.resume(*assigned)

    async def _move(self, partitions: list[TopicPartition]) -> None:
        # End offsets first: a partition with no event inside the window starts at this end, and anything
        # published after this call lies at or beyond it, so nothing new is skipped.
        ends = await self._consumer.end_offsets(partitions)
        since = window_start_ms(self._history)
        found = await self._consumer.offsets_for_times(dict.fromkeys(partitions, since))
        for partition in partitions:
            at_time = found.get(partition)
            first_in_window = ends[partition] if at_time is None else at_time.offset
            committed = await self._consumer.committed(partition)
            target = start_offset(committed, first_in_window)
            if target is not None:
                self._consumer.seek(partition, target)
                self.started_at[partition] = target
                log.info(
                    "%s:%s starts at offset %d, the first event of the last %s (committed: %s)",
                    partition.topic,
                    partition.partition,
                    target,
                    self._history,
                    committed,
                )
