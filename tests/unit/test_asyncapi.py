"""docs/asyncapi.yaml: up to date with the contracts, shaped as AsyncAPI 3.0 asks, and true to the code."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
import yaml
from pydantic import BaseModel, ConfigDict

from shared import tracing
from shared.consumer_loop import _dead_letter
from shared.contracts import REQUEST_ASSIGNED, REQUEST_SUBMITTED, RequestSubmittedV1, StatusChangedV1, new_event
from shared.contracts.asyncapi import (
    DEAD_LETTER_HEADERS,
    DEAD_LETTER_MESSAGE,
    DOCUMENT_PATH,
    EVENT_HEADERS,
    KAFKA_BINDING_VERSION,
    WRITE_COMMAND,
    build_document,
    message_key,
    render,
)
from shared.contracts.care import CARE_PAYLOADS
from shared.contracts.envelope import DISTRICT_ID_PATTERN, EventEnvelope, registered_payloads
from shared.contracts.roster import ROSTER_PAYLOADS
from shared.contracts.status import STATUS_EVENT_TYPES
from shared.contracts.topics import Topics
from shared.kafka import EventPublisher
from tests.unit.test_contracts import submitted_event

Json = dict[str, Any]

# AsyncAPI 3.0.0: keys of components, channels and operations.
KEY = re.compile(r"^[\w\d.\-_]+$")
MESSAGE_FIELDS = {
    "contentType",
    "headers",
    "payload",
    "correlationId",
    "tags",
    "summary",
    "name",
    "title",
    "description",
    "externalDocs",
    "deprecated",
    "examples",
    "bindings",
    "traits",
}
# The Kafka bindings 0.5.0, by the object they bind.
KAFKA_FIELDS = {
    "channel": {"topic", "partitions", "replicas", "topicConfiguration", "bindingVersion"},
    "message": {"key", "schemaIdLocation", "schemaIdPayloadEncoding", "schemaLookupStrategy", "bindingVersion"},
    "operation": {"groupId", "clientId", "bindingVersion"},
}

ASSIGNED = new_event(
    event_type=REQUEST_ASSIGNED,
    source="dispatch",
    district_id="chengzhong",
    request_id="r1",
    data=StatusChangedV1(status="assigned", sequence=4, volunteer_id="v1"),
)


@pytest.fixture(scope="module")
def doc() -> Json:
    return build_document()


def resolve(doc: Json, ref: str) -> Any:
    assert ref.startswith("#/"), f"only local references: {ref}"
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def carried(doc: Json, operation: str) -> set[str]:
    return {ref.rsplit("/", 1)[1] for ref in refs(doc["operations"][operation]["messages"])}


def test_checked_in_document_is_up_to_date() -> None:
    checked_in = DOCUMENT_PATH.read_text(encoding="utf-8") if DOCUMENT_PATH.exists() else ""
    generated = render()

    diff = "".join(list(difflib.unified_diff(checked_in.splitlines(True), generated.splitlines(True), n=1))[:60])
    assert not diff, (
        f"docs/asyncapi.yaml is out of date with shared/contracts; regenerate it with `{WRITE_COMMAND}`"
        f" and commit it:\n{diff}"
    )


def test_document_is_yaml_of_the_built_document(doc: Json) -> None:
    assert yaml.safe_load(render()) == doc


def test_document_has_the_shape_of_asyncapi_3(doc: Json) -> None:
    # No PyPI package ships AsyncAPI's own JSON schema (npm's @asyncapi/specs does); these are the rules of
    # it, and of the specification's text, that a change to the generator could break.
    assert doc["asyncapi"] == "3.0.0"
    assert isinstance(doc["info"]["title"], str) and isinstance(doc["info"]["version"], str)
    assert set(doc) <= {
        "asyncapi",
        "id",
        "info",
        "servers",
        "defaultContentType",
        "channels",
        "operations",
        "components",
    }
    for section in (doc["channels"], doc["operations"], doc["components"]["schemas"], doc["components"]["messages"]):
        assert all(KEY.match(key) for key in section), sorted(section)
    for ref in refs(doc):
        resolve(doc, ref)
    for channel in doc["channels"].values():
        assert isinstance(channel["address"], str)
        assert all(ref["$ref"].startswith("#/components/messages/") for ref in channel["messages"].values())
        assert set(channel["bindings"]["kafka"]) <= KAFKA_FIELDS["channel"]
    for message in doc["components"]["messages"].values():
        assert set(message) <= MESSAGE_FIELDS
        assert set(message["bindings"]["kafka"]) <= KAFKA_FIELDS["message"]
    for name, operation in doc["operations"].items():
        assert operation["action"] in ("send", "receive"), name
        channel = operation["channel"]["$ref"]
        assert channel.startswith("#/channels/"), name
        # An operation's messages MUST be a subset of its channel's, referenced through the channel.
        assert operation["messages"], name
        assert all(ref["$ref"].startswith(f"{channel}/messages/") for ref in operation["messages"]), name
        assert set(operation.get("bindings", {}).get("kafka", {})) <= KAFKA_FIELDS["operation"]
    for kind, bindings in (
        ("channel", [c["bindings"] for c in doc["channels"].values()]),
        ("message", [m["bindings"] for m in doc["components"]["messages"].values()]),
        ("operation", [o["bindings"] for o in doc["operations"].values() if "bindings" in o]),
    ):
        assert all(b["kafka"]["bindingVersion"] == KAFKA_BINDING_VERSION for b in bindings), kind


def test_channels_are_the_topics_with_their_partition_counts(doc: Json) -> None:
    documented = {
        channel["address"]: channel["bindings"]["kafka"]["partitions"] for channel in doc["channels"].values()
    }

    assert documented == Topics().partition_counts()


def test_every_registered_payload_is_one_message_on_its_topic(doc: Json) -> None:
    payloads = registered_payloads()
    schemas = doc["components"]["schemas"]
    on_topics = {key for name in ("requests", "status") for key in doc["channels"][name]["messages"]}

    assert on_topics == {message_key(event_type, version) for event_type, version in payloads}
    for (event_type, version), model in payloads.items():
        key = message_key(event_type, version)
        assert key in doc["channels"]["status" if event_type in STATUS_EVENT_TYPES else "requests"]["messages"]
        message = doc["components"]["messages"][key]
        envelope, specific = message["payload"]["allOf"]
        assert message["name"] == event_type
        assert envelope == {"$ref": "#/components/schemas/EventEnvelope"}
        assert specific["properties"]["type"] == {"const": event_type}
        assert specific["properties"]["schema_version"] == {"const": version}
        assert resolve(doc, specific["properties"]["data"]["$ref"])["title"] == model.__name__
    models: set[type[BaseModel]] = {EventEnvelope, *payloads.values()}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schema.pop("$defs", None)
        assert schemas[model.__name__] == schema, f"{model.__name__} is not pydantic's schema of it"


def test_every_message_is_keyed_by_its_district(doc: Json) -> None:
    envelope_district = doc["components"]["schemas"]["EventEnvelope"]["properties"]["district_id"]

    for key, message in doc["components"]["messages"].items():
        binding = message["bindings"]["kafka"]["key"]
        assert (binding["type"], binding["pattern"]) == ("string", envelope_district["pattern"]), key
    assert envelope_district["pattern"] == DISTRICT_ID_PATTERN


def test_operations_say_who_sends_and_receives_what(doc: Json) -> None:
    requests = set(doc["channels"]["requests"]["messages"])
    status = set(doc["channels"]["status"]["messages"])
    roster = {message_key(event_type, 1) for event_type in (*ROSTER_PAYLOADS, *CARE_PAYLOADS)}

    assert carried(doc, "admin.sendRoster") == roster
    assert carried(doc, "intake.sendRequests") == requests - roster
    assert carried(doc, "dispatch.receiveRequests") == requests
    assert carried(doc, "dispatch.sendStatus") == carried(doc, "notify.receiveStatus") == status
    assert carried(doc, "dispatch.sendDeadLetters") == carried(doc, "notify.sendDeadLetters") == {DEAD_LETTER_MESSAGE}
    actions = {name: operation["action"] for name, operation in doc["operations"].items()}
    assert actions["dispatch.receiveRequests"] == actions["notify.receiveStatus"] == "receive"


def test_a_new_payload_appears_without_editing_the_generator() -> None:
    class RequestTeleportedV1(BaseModel):
        model_config = ConfigDict(extra="forbid")
        to: str

    class RequestSubmittedV2(RequestSubmittedV1):
        channel: str

    payloads: dict[tuple[str, int], type[BaseModel]] = {
        **registered_payloads(),
        ("request.teleport", 1): RequestTeleportedV1,
        (REQUEST_SUBMITTED, 2): RequestSubmittedV2,
    }

    doc = build_document(payloads)

    for key, model in (("request.teleport.v1", RequestTeleportedV1), ("request.submitted.v2", RequestSubmittedV2)):
        assert key in doc["channels"]["requests"]["messages"]
        assert key in carried(doc, "intake.sendRequests") & carried(doc, "dispatch.receiveRequests")
        assert model.__name__ in doc["components"]["schemas"]
    assert doc["components"]["messages"]["request.submitted.v2"]["payload"]["allOf"][1]["properties"][
        "schema_version"
    ] == {"const": 2}


def payload_validator(doc: Json, key: str) -> jsonschema_rs.Draft7Validator:
    # The message's payload with the document's components beside it, so that its $refs resolve.
    return jsonschema_rs.Draft7Validator(
        {"components": doc["components"], **doc["components"]["messages"][key]["payload"]}
    )


def test_real_events_validate_against_their_message_and_no_other(doc: Json) -> None:
    submitted = submitted_event()
    for event, key, other in (
        (submitted, "request.submitted.v1", "request.cancel.v1"),
        (ASSIGNED, "request.assigned.v1", "request.offered.v1"),
    ):
        wire = event.model_dump(mode="json")
        assert payload_validator(doc, key).is_valid(wire), key
        assert not payload_validator(doc, other).is_valid(wire), other
    broken = submitted.model_dump(mode="json")
    broken["data"]["resident_phone"] = ""
    assert not payload_validator(doc, "request.submitted.v1").is_valid(broken)


class RecordingProducer:
    def __init__(self) -> None:
        self.headers: list[tuple[str, bytes]] = []
        self.key: bytes | None = None

    async def send_and_wait(self, topic: str, value: bytes, *, key: bytes, headers: list[tuple[str, bytes]]) -> None:
        self.key = key
        self.headers = headers


class RecordingPublisher(EventPublisher):
    def __init__(self) -> None:
        super().__init__("127.0.0.1:1", 1.0)
        self.headers: list[tuple[str, bytes]] = []

    async def publish_raw(self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        self.headers = headers


async def test_documented_event_headers_and_key_are_what_the_publisher_writes() -> None:
    publisher = EventPublisher("127.0.0.1:1", 1.0)
    producer = RecordingProducer()
    publisher._producer = producer  # the real send path, without a broker

    token = tracing.activate(tracing.new_trace())
    try:
        await publisher.publish("grid.status.v2", ASSIGNED)
    finally:
        tracing.deactivate(token)

    assert [name for name, _ in producer.headers] == list(EVENT_HEADERS)
    assert producer.key == ASSIGNED.district_id.encode()


async def test_documented_dead_letter_headers_are_what_the_consumer_loop_adds() -> None:
    publisher = RecordingPublisher()
    original = [("type", b"request.submitted"), ("schema_version", b"1")]

    class Record:
        topic, partition, offset, key, value, headers = "grid.requests.v2", 3, 41, b"chengzhong", b"{}", original

    await _dead_letter(publisher, "grid.deadletter.v1", Record(), "ValueError: bad")

    assert [name for name, _ in publisher.headers] == [name for name, _ in original] + list(DEAD_LETTER_HEADERS)
