"""Versioned event contracts: one envelope for every topic, typed payloads per event type."""

from shared.contracts.commands import COMMAND_PAYLOADS, Actor, Command
from shared.contracts.envelope import EventEnvelope, UnknownEventError, decode_data, new_event
from shared.contracts.requests import REQUEST_SUBMITTED, RequestSubmitted, RequestSubmittedV1, RequestSubmittedV2
from shared.contracts.roster import VOLUNTEER_CHANGED, VOLUNTEER_REMOVED, VolunteerChangedV1, VolunteerRemovedV1
from shared.contracts.status import (
    REQUEST_ASSIGNED,
    REQUEST_RECEIVED,
    REQUEST_UNASSIGNED,
    STATUS_EVENT_TYPES,
    StatusChangedV1,
)
from shared.contracts.topics import Topics

__all__ = [
    "COMMAND_PAYLOADS",
    "REQUEST_ASSIGNED",
    "REQUEST_RECEIVED",
    "REQUEST_SUBMITTED",
    "REQUEST_UNASSIGNED",
    "STATUS_EVENT_TYPES",
    "VOLUNTEER_CHANGED",
    "VOLUNTEER_REMOVED",
    "Actor",
    "Command",
    "EventEnvelope",
    "RequestSubmitted",
    "RequestSubmittedV1",
    "RequestSubmittedV2",
    "StatusChangedV1",
    "Topics",
    "UnknownEventError",
    "VolunteerChangedV1",
    "VolunteerRemovedV1",
    "decode_data",
    "new_event",
]
