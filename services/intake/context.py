"""Everything a route or handler needs, built once by `create_app` and kept on `app.state`."""

from __future__ import annotations

from dataclasses import dataclass

from services.intake.reference_cache import ReferenceCache
from services.intake.repository import IntakeRepository
from services.intake.settings import ApiLimits
from shared.contracts import Topics
from shared.kafka import EventPublisher
from shared.settings import IntakeSettings


@dataclass(frozen=True)
class IntakeContext:
    repository: IntakeRepository
    reference: ReferenceCache  # what submissions and commands check, in memory (keys, grids, menu, residents)
    publisher: EventPublisher
    topics: Topics
    id_key: bytes  # signs new request ids and tokens
    settings: IntakeSettings | None = None
    limits: ApiLimits | None = None
    # Keys of before a rotation: ids and tokens they signed are still recognised, never newly minted.
    previous_id_keys: tuple[bytes, ...] = ()

    @property
    def id_keys(self) -> tuple[bytes, ...]:
        return (self.id_key, *self.previous_id_keys)

    @property
    def public_url(self) -> str:
        return self.settings.public_url if self.settings else "http://127.0.0.1:8000"

    @property
    def notify_public_url(self) -> str:
        return self.settings.notify_public_url if self.settings else "http://127.0.0.1:8002"
