"""Topic names and partition counts.

Every event on the requests and status topics is keyed by `district_id`: one partition, hence one
dispatch replica at a time, owns a district and sees its submissions, commands and roster changes in
order; notify sees a district's status events in the order dispatch wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass

REQUESTS_TOPIC = "grid.requests.v2"
STATUS_TOPIC = "grid.status.v2"
DEAD_LETTER_TOPIC = "grid.deadletter.v1"


@dataclass(frozen=True)
class Topics:
    prefix: str = ""
    request_partitions: int = 6
    status_partitions: int = 6
    dead_letter_partitions: int = 1
    replication_factor: int = 1

    @property
    def requests(self) -> str:
        return f"{self.prefix}{REQUESTS_TOPIC}"

    @property
    def status(self) -> str:
        return f"{self.prefix}{STATUS_TOPIC}"

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}{DEAD_LETTER_TOPIC}"

    def partition_counts(self) -> dict[str, int]:
        return {
            self.requests: self.request_partitions,
            self.status: self.status_partitions,
            self.dead_letter: self.dead_letter_partitions,
        }
