"""AsyncAPI 3.0 document of the platform's Kafka topics, keys and payloads, built from these contracts.

    python -m shared.contracts.asyncapi            # print the YAML
    python -m shared.contracts.asyncapi --write    # rewrite docs/asyncapi.yaml

Messages come from the payload registry (`registered_payloads`) and channels from `Topics`, so a payload
registered in any module of this package appears without editing this file. What the contracts do not
say is kept here, once: which service sends and receives what, and the Kafka headers that the publisher
and the consumer loop write (tests/unit/test_asyncapi.py checks those against the code).

Built by hand rather than with FastStream: its generator documents FastStream subscribers and
publishers, so we would have to declare a FastStream app that never runs, add it as a runtime
dependency for docs alone, and still not get one message per event type behind one envelope nor the
district key binding. Pydantic already gives the JSON schemas; the rest is a few dictionaries.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

import shared.contracts
from shared import tracing
from shared.contracts.care import CARE_PAYLOADS
from shared.contracts.envelope import DISTRICT_ID_PATTERN, EventEnvelope, registered_payloads
from shared.contracts.roster import ROSTER_PAYLOADS
from shared.contracts.status import STATUS_EVENT_TYPES
from shared.contracts.topics import Topics
from shared.settings import DispatchSettings, NotifySettings, PlatformSettings

Json = dict[str, Any]
Payloads = Mapping[tuple[str, int], type[BaseModel]]

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
# Follows the topics' version (grid.requests.v2, grid.status.v2); payloads version themselves by schema_version.
CONTRACTS_VERSION = "2.0.0"
DOCUMENT_PATH = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"
WRITE_COMMAND = "python -m shared.contracts.asyncapi --write"
SCHEMAS = "#/components/schemas/"

# What EventPublisher.publish writes on every event (shared/kafka.py).
EVENT_HEADERS: dict[str, str] = {
    "type": "The envelope's `type`: a consumer can route or skip an event without parsing its value.",
    "schema_version": "The envelope's `schema_version`, as decimal text.",
    tracing.TRACEPARENT_HEADER: "W3C trace context of the work that published the event; absent outside a trace.",
}
OPTIONAL_EVENT_HEADERS = frozenset({tracing.TRACEPARENT_HEADER})
# What the consumer loop adds to the original event's headers when it parks an event (shared/consumer_loop.py).
DEAD_LETTER_HEADERS: dict[str, str] = {
    "dead_letter_error": "Why the event was parked: the exception's type and message, at most 1000 characters.",
    "source_topic": "The topic the event was read from.",
    "source_partition": "Its partition there, as decimal text.",
    "source_offset": "Its offset there, as decimal text.",
}
DEAD_LETTER_MESSAGE = "deadLetter"


@dataclass(frozen=True)
class Channel:
    key: str
    address: str
    partitions: int
    description: str


@dataclass(frozen=True)
class Operation:
    key: str
    action: Literal["send", "receive"]
    channel: str
    summary: str
    # Which of the channel's messages, by name (the event type), this operation carries.
    carries: Callable[[str], bool]
    group_id: Json | None = None


def _every(_name: str) -> bool:
    return True


# What the reference-data admin announces to dispatch: roster changes and care plans.
ADMIN_ANNOUNCEMENTS = frozenset({*ROSTER_PAYLOADS, *CARE_PAYLOADS})


def _is_roster(name: str) -> bool:
    return name in ADMIN_ANNOUNCEMENTS


def _is_not_roster(name: str) -> bool:
    return name not in ADMIN_ANNOUNCEMENTS


def channels(topics: Topics) -> tuple[Channel, ...]:
    return (
        Channel(
            "requests",
            topics.requests,
            topics.request_partitions,
            "What dispatch is asked to do: submissions, commands on a request, roster changes and care plans. "
            "Keyed by "
            "district, so one partition, hence one dispatch replica at a time, owns a district and sees its "
            "events in order.",
        ),
        Channel(
            "status",
            topics.status,
            topics.status_partitions,
            "Every status change of a request, written by the dispatch replica that owns the district. Keyed "
            "by district, so a district's events keep the order dispatch wrote them in; a stream position is "
            "an event's place in this log.",
        ),
        Channel(
            "deadLetter",
            topics.dead_letter,
            topics.dead_letter_partitions,
            "Events that a consumer could not parse, or whose handling kept failing, parked with the reason "
            "so that one bad event never blocks a partition. Value, key and headers are the original's.",
        ),
    )


def channel_of(event_type: str) -> str:
    # status.py registers exactly STATUS_EVENT_TYPES; every other payload (the submission, commands,
    # roster changes) is something asked of dispatch and travels on the requests topic.
    return "status" if event_type in STATUS_EVENT_TYPES else "requests"


def operations() -> tuple[Operation, ...]:
    dispatch_group = DispatchSettings.model_fields["consumer_group"].default
    notify_group = NotifySettings.model_fields["consumer_group"].default
    return (
        Operation(
            "intake.sendRequests",
            "send",
            "requests",
            "Intake publishes submissions and commands after checking the caller's key and the district's "
            "reference data; it answers 202 only after the broker acknowledged (acks=all, idempotent producer).",
            _is_not_roster,
        ),
        Operation(
            "admin.sendRoster",
            "send",
            "requests",
            "The reference-data admin (intake's admin API, gridctl), sole writer of volunteers and care plans, "
            "announces each one it writes, so that the district's owner updates its roster and care timers in "
            "memory.",
            _is_roster,
        ),
        Operation(
            "dispatch.receiveRequests",
            "receive",
            "requests",
            "Dispatch applies each event to its districts' state, writes it durably, publishes the status "
            "events, and only then commits the offset.",
            _every,
            {
                "type": "string",
                "default": dispatch_group,
                "description": "DISPATCH_GROUP, after GRID_TOPIC_PREFIX: one group for every replica, so each "
                "district has one owner at a time.",
            },
        ),
        Operation(
            "dispatch.sendStatus",
            "send",
            "status",
            "Dispatch publishes the status events of each change from the request's outbox, in order.",
            _every,
        ),
        Operation(
            "notify.receiveStatus",
            "receive",
            "status",
            "Notify serves the status log to residents, volunteers and operators (SSE, WebSocket; a stream "
            "position is the event's place in the log, every replica following every partition without a "
            "group) and sends webhooks and messages in one consumer group shared by its replicas.",
            _every,
            {
                "type": "string",
                "default": notify_group,
                "description": "NOTIFY_GROUP after GRID_TOPIC_PREFIX, for webhooks and messages: the replicas "
                "share the partitions. Streams read the log without a group.",
            },
        ),
        Operation(
            "dispatch.sendDeadLetters",
            "send",
            "deadLetter",
            "Dispatch parks a requests-topic event that it cannot parse or whose handling keeps failing.",
            _every,
        ),
        Operation(
            "notify.sendDeadLetters",
            "send",
            "deadLetter",
            "Notify parks a status event that it cannot parse or whose handling keeps failing.",
            _every,
        ),
    )


def load_contracts() -> None:
    """Import every module of this package: a payload is registered when its module is imported."""
    for module in pkgutil.iter_modules(shared.contracts.__path__):
        if module.name != "asyncapi":
            importlib.import_module(f"{shared.contracts.__name__}.{module.name}")


def message_key(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}"


def _summary(model: type[BaseModel]) -> str | None:
    # The model's own docstring only: an inherited one (Command's) speaks of the class, not the event.
    doc = model.__dict__.get("__doc__")
    return str(doc).strip().splitlines()[0] if doc else None


def _headers_schema(headers: Mapping[str, str], required: list[str], *, more: bool) -> Json:
    return {
        "type": "object",
        "description": "Kafka record headers; values are UTF-8 text.",
        "required": required,
        "properties": {name: {"type": "string", "description": text} for name, text in headers.items()},
        "additionalProperties": more,
    }


def _key_binding(description: str) -> Json:
    # Inline rather than a $ref: the binding's key is "Reference or schema" (oneOf), and a bare $ref
    # object is both, so a plain JSON Schema check of the document would reject it.
    key = {"type": "string", "pattern": DISTRICT_ID_PATTERN, "description": description}
    return {"kafka": {"key": key, "bindingVersion": KAFKA_BINDING_VERSION}}


def _event_message(event_type: str, version: int, model: type[BaseModel], data_ref: Json) -> Json:
    message: Json = {"name": event_type, "title": model.__name__}
    summary = _summary(model)
    if summary:
        message["summary"] = summary
    message |= {
        "contentType": "application/json",
        "headers": {"$ref": f"{SCHEMAS}EventHeaders"},
        "payload": {
            "allOf": [
                {"$ref": f"{SCHEMAS}{EventEnvelope.__name__}"},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": event_type},
                        "schema_version": {"const": version},
                        "data": {"$ref": data_ref["$ref"]},
                    },
                },
            ]
        },
        "bindings": _key_binding("The envelope's `district_id`: every topic is keyed by district."),
    }
    return message


def _dead_letter_message() -> Json:
    return {
        "name": "dead_letter",
        "summary": "An event parked by a consumer, with why and where it was read.",
        "headers": {"$ref": f"{SCHEMAS}DeadLetterHeaders"},
        "payload": {
            "description": "The original value byte for byte: usually an event envelope, but it may be anything "
            "that failed to parse. Replay by publishing it back to `source_topic` with the same key."
        },
        "bindings": _key_binding("The original record's key: the event's district."),
    }


def build_document(payloads: Payloads | None = None) -> Json:
    """The AsyncAPI document as plain data, in a fixed order; `payloads` defaults to the registry."""
    if payloads is None:
        load_contracts()
        payloads = registered_payloads()
    channel_list = channels(Topics())

    models: list[type[BaseModel]] = list(dict.fromkeys([EventEnvelope, *payloads.values()]))
    refs, definitions = models_json_schema(
        [(model, "validation") for model in models], ref_template=SCHEMAS + "{model}"
    )
    own_schemas: Json = {
        "EventHeaders": _headers_schema(
            EVENT_HEADERS, [name for name in EVENT_HEADERS if name not in OPTIONAL_EVENT_HEADERS], more=False
        ),
        "DeadLetterHeaders": _headers_schema(DEAD_LETTER_HEADERS, list(DEAD_LETTER_HEADERS), more=True),
    }
    pydantic_schemas: Json = definitions.get("$defs", {})
    clash = set(own_schemas) & set(pydantic_schemas)
    if clash:
        raise ValueError(f"payload models are named like the document's own schemas: {sorted(clash)}")

    # Messages by channel, grouped by the module that defines the model and in registration order within
    # it, so that the order follows the contracts' files whatever order they happened to be imported in.
    by_channel: dict[str, Json] = {channel.key: {} for channel in channel_list}
    for (event_type, version), model in sorted(payloads.items(), key=lambda item: item[1].__module__):
        by_channel[channel_of(event_type)][message_key(event_type, version)] = _event_message(
            event_type, version, model, refs[(model, "validation")]
        )
    by_channel["deadLetter"][DEAD_LETTER_MESSAGE] = _dead_letter_message()

    document: Json = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Grid Service Platform events",
            "version": CONTRACTS_VERSION,
            "description": "The Kafka topics between intake, dispatch and notify. Every record's value is one "
            "JSON event envelope whose `type` and `schema_version` name the payload model of its `data`; every "
            "record's key is the envelope's `district_id`. Generated from shared/contracts by `"
            f"{WRITE_COMMAND}`; do not edit by hand.",
            "license": {"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": PlatformSettings.model_fields["kafka_bootstrap"].default,
                "protocol": "kafka",
                "description": "The native stack's broker (deploy/native/stack.sh); elsewhere KAFKA_BOOTSTRAP.",
            }
        },
        "channels": {
            channel.key: {
                "address": channel.address,
                "description": channel.description,
                "messages": {key: {"$ref": f"#/components/messages/{key}"} for key in by_channel[channel.key]},
                "bindings": {
                    "kafka": {"partitions": channel.partitions, "bindingVersion": KAFKA_BINDING_VERSION},
                },
            }
            for channel in channel_list
        },
        "operations": {},
        "components": {
            "schemas": own_schemas | pydantic_schemas,
            "messages": {key: message for messages in by_channel.values() for key, message in messages.items()},
        },
    }
    for operation in operations():
        messages = by_channel[operation.channel]
        entry: Json = {
            "action": operation.action,
            "channel": {"$ref": f"#/channels/{operation.channel}"},
            "summary": operation.summary,
            "tags": [{"name": operation.key.split(".")[0]}],
            "messages": [
                {"$ref": f"#/channels/{operation.channel}/messages/{key}"}
                for key, message in messages.items()
                if operation.carries(message["name"])
            ],
        }
        if operation.group_id is not None:
            entry["bindings"] = {"kafka": {"groupId": operation.group_id, "bindingVersion": KAFKA_BINDING_VERSION}}
        document["operations"][operation.key] = entry
    return document


class _Dumper(yaml.SafeDumper):
    # Messages share schema objects; anchors and aliases (&id001) would make the document hard to read.
    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(payloads: Payloads | None = None) -> str:
    """The document as YAML, byte for byte what docs/asyncapi.yaml holds when it is up to date."""
    header = f"# Generated from shared/contracts by `{WRITE_COMMAND}`; do not edit by hand.\n"
    body = yaml.dump(build_document(payloads), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
    return header + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.contracts.asyncapi", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--write", action="store_true", help=f"write {DOCUMENT_PATH} instead of printing")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        DOCUMENT_PATH.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
