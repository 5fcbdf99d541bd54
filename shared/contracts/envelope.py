"""The one envelope every event travels in, and the registry that types its payload.

Every topic is keyed by the envelope's `district_id` (see `topics`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

DISTRICT_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"

# (type, schema_version) -> payload model; filled by the modules that define payloads.
_PAYLOADS: dict[tuple[str, int], type[BaseModel]] = {}


class UnknownEventError(ValueError):
    """An event whose type or schema version this code does not know: it goes to the dead-letter topic."""


class EventEnvelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=100)
    type: str = Field(min_length=1, max_length=100)
    source: str = Field(min_length=1, max_length=100)
    time: AwareDatetime
    district_id: str = Field(pattern=DISTRICT_ID_PATTERN)
    # Empty only for events that concern no request (roster changes); every status event names one.
    request_id: str | None = Field(None, min_length=1, max_length=100)
    schema_version: int = Field(ge=1)
    data: dict[str, Any]

    @property
    def request(self) -> str:
        """The request this event concerns; an event of a request-scoped type without one cannot be applied."""
        if self.request_id is None:
            raise UnknownEventError(f"event {self.type!r} {self.id} names no request")
        return self.request_id

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> EventEnvelope:
        return cls.model_validate_json(raw)


def register_payload(event_type: str, version: int, model: type[BaseModel]) -> None:
    _PAYLOADS[(event_type, version)] = model


def registered_payloads() -> dict[tuple[str, int], type[BaseModel]]:
    """Every (type, schema_version) with its payload model, in registration order; a copy, for documentation."""
    return dict(_PAYLOADS)


def decode_data(envelope: EventEnvelope) -> BaseModel:
    """Validate the envelope's payload against the model registered for its type and version."""
    model = _PAYLOADS.get((envelope.type, envelope.schema_version))
    if model is None:
        raise UnknownEventError(f"unknown event {envelope.type!r} version {envelope.schema_version}")
    return model.model_validate(envelope.data)


def new_event(
    *,
    event_type: str,
    source: str,
    district_id: str,
    request_id: str | None,
    data: BaseModel,
    schema_version: int = 1,
    event_id: str | None = None,
    time: datetime | None = None,
) -> EventEnvelope:
    return EventEnvelope(
        id=event_id or str(uuid.uuid4()),
        type=event_type,
        source=source,
        time=time or datetime.now(UTC),
        district_id=district_id,
        request_id=request_id,
        schema_version=schema_version,
        data=data.model_dump(mode="json"),
    )
