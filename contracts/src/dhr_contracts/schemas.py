"""Generate contracts/schemas/ from the models: JSON Schemas, an AsyncAPI 3 document (YAML) and an
index.

Run `python -m dhr_contracts.schemas` (`make schemas`) after changing a model and commit the result;
`python -m dhr_contracts.schemas --check` exits 1 when the committed files differ (CI runs it).
The output is deterministic: sorted keys, 2-space indent, a trailing newline.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml
from pydantic.json_schema import models_json_schema

from dhr_contracts import topics
from dhr_contracts.base import PERSONAL_DATA_KEY, EventPayload
from dhr_contracts.commissioning import NotificationReceived
from dhr_contracts.envelope import HEADER_PREFIX, Envelope
from dhr_contracts.registry import EVENT_TYPES

JsonObject = dict[str, Any]

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ASYNCAPI_FILE = "asyncapi.yaml"
ENVELOPE_FILE = "envelope.schema.json"
INDEX_FILE = "index.json"
KAFKA_BINDING_VERSION = "0.5.0"
OUT_OF_DATE = "contracts/schemas is out of date: run make schemas"

# What the server sets on a notification it receives: an agency sends everything else.
SERVER_SET_NOTIFICATION_FIELDS = ("review_id", "received_at", "decision_due_months", "decision_due_on")

# Envelope attributes the model leaves undescribed (fixed values), described for readers here.
_ATTRIBUTE_NOTES = {
    "specversion": "CloudEvents specification version: always 1.0.",
    "datacontenttype": "Media type of the data: always application/json.",
}

# Headers a consumer adds when it parks a message on `<topic>.dlq`; the original headers stay.
DEAD_LETTER_HEADERS = {
    "dlq_consumer": "Name of the consumer that gave up on the message.",
    "dlq_original_topic": "Topic the message was read from.",
    "dlq_original_partition": "Partition the message was read from (decimal).",
    "dlq_original_offset": "Offset of the message in that partition (decimal).",
    "dlq_error_type": "Class name of the error the message last failed with.",
    "dlq_error_message": "The error message, truncated; never echoes field values (personal data).",
    "dlq_attempts": "How many times the consumer tried the message (decimal).",
    "dlq_failed_at": "When the message was parked (ISO 8601, UTC).",
}


def schema_file_name(event_type: str) -> str:
    """File name of the JSON Schema of an event type."""
    return f"{event_type}.schema.json"


def schema_id(name: str) -> str:
    """Stable identifier of a schema: a URN, so no host has to exist."""
    return f"urn:dhr:schema:{name}"


def service_of(event_type: str) -> str:
    """The service that publishes an event type: `dhr.<service>.<Name>.v<N>`."""
    return event_type.split(".")[1]


def topic_of(event_type: str) -> str:
    """The topic an event type is published on: its service's events topic."""
    return f"dhr.{service_of(event_type)}.events.v1"


def dump(document: Mapping[str, Any]) -> str:
    """Deterministic JSON text: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def dump_yaml(document: Mapping[str, Any]) -> str:
    """Deterministic YAML text: sorted keys, block style, long lines kept whole."""
    text: str = yaml.safe_dump(dict(document), sort_keys=True, allow_unicode=True,
                               default_flow_style=False, width=1_000_000)
    return text


def event_schema(model: type[EventPayload]) -> JsonObject:
    """The standalone JSON Schema (draft 2020-12) of one event payload."""
    schema: JsonObject = model.model_json_schema(mode="validation")
    schema["$schema"] = JSON_SCHEMA_DIALECT
    schema["$id"] = schema_id(model.event_type)
    schema["x-event-type"] = model.event_type
    schema["x-personal-data-fields"] = sorted(model.personal_fields())
    schema["x-topic"] = topic_of(model.event_type)
    return schema


def envelope_schema() -> JsonObject:
    """The JSON Schema of the envelope, with the Kafka header each attribute travels in."""
    schema: JsonObject = Envelope.model_json_schema(mode="validation")
    for name, note in _ATTRIBUTE_NOTES.items():
        schema["properties"][name].setdefault("description", note)
    schema["$schema"] = JSON_SCHEMA_DIALECT
    schema["$id"] = schema_id("envelope")
    schema["description"] = (
        f"{schema['description']} On Kafka the envelope travels in CloudEvents binary content mode: "
        "every attribute but `data` is a record header `ce_<attribute>` (`datacontenttype` is the "
        "`content-type` header), the record value is `data` as UTF-8 JSON, and the record key is "
        "the review id (`subject`). In the event store and in audit exports it is this JSON object."
    )
    schema["x-kafka-headers"] = {
        name: _header_name(name) for name in Envelope.model_fields if name != "data"
    }
    return schema


def _header_name(attribute: str) -> str:
    return "content-type" if attribute == "datacontenttype" else HEADER_PREFIX + attribute


def cloud_event_headers_schema() -> JsonObject:
    """Kafka headers of a published event: the envelope's attributes, as strings."""
    properties: JsonObject = {}
    required: list[str] = []
    for name, info in Envelope.model_fields.items():
        if name == "data":
            continue
        header = _header_name(name)
        description = info.description or _ATTRIBUTE_NOTES[name]
        properties[header] = {"type": "string", "description": description}
        # `Envelope.kafka_headers` writes every attribute whose value is not None.
        if info.is_required() or info.default is not None:
            required.append(header)
    return {
        "type": "object",
        "description": "CloudEvents 1.0 attributes in Kafka binary content mode (UTF-8 header values).",
        "properties": properties,
        "required": sorted(required),
    }


def intake_headers_schema() -> JsonObject:
    """Kafka headers an agency system may set on a death notification; none is required."""
    return {
        "type": "object",
        "description": "Optional CloudEvents headers of a notification sent by an agency case system.",
        "properties": {
            "ce_id": {"type": "string", "description": (
                "Stable id of the notification. Resending it with the same ce_id never opens a "
                "second review; without it the record's topic/partition/offset is its identity.")},
            "ce_source": {"type": "string",
                          "description": "The sending system; recorded as the actor of the event."},
            "ce_correlationid": {"type": "string", "format": "uuid",
                                 "description": "Correlation id to carry into the recorded event."},
            "ce_traceparent": {"type": "string", "description": "W3C trace context of the sender."},
            "traceparent": {"type": "string",
                            "description": "W3C trace context (accepted as well as ce_traceparent)."},
            "content-type": {"type": "string", "const": "application/json",
                             "description": "Media type of the record value."},
        },
    }


def dead_letter_headers_schema() -> JsonObject:
    """Kafka headers of a parked message: the original headers plus why it was parked."""
    return {
        "type": "object",
        "description": "The original record's headers, unchanged, plus the dlq_* headers.",
        "properties": {name: {"type": "string", "description": description}
                       for name, description in DEAD_LETTER_HEADERS.items()},
        "required": sorted(DEAD_LETTER_HEADERS),
        "additionalProperties": {"type": "string"},
    }


def intake_notification_schema(notification_received: JsonObject) -> JsonObject:
    """The body of a death notification on the intake topic: NotificationReceived less what the
    server sets (the review id, the time of receipt and the decision deadline)."""
    schema = copy.deepcopy(notification_received)
    personal = sorted(name for name, field in schema["properties"].items()
                      if field.get(PERSONAL_DATA_KEY))
    left_out = [*SERVER_SET_NOTIFICATION_FIELDS, *personal]
    for name in left_out:
        schema["properties"].pop(name)
    schema["required"] = [name for name in schema["required"] if name not in left_out]
    schema["title"] = "DeathNotification"
    schema["description"] = (
        "A death notified by an agency case system; validated as the HTTP intake (POST /reviews) "
        "does. The fields of NotificationReceived less those the server sets ("
        + ", ".join(SERVER_SET_NOTIFICATION_FIELDS) + ") and less its personal data ("
        + ", ".join(personal) + "): names are "
        "never taken from Kafka, where they would stay in plain text; send them over HTTPS. A "
        "notification that holds them is refused, and its dead-letter copy leaves them out.")
    return schema


def asyncapi_document() -> JsonObject:
    """The AsyncAPI 3.0.0 document of every topic that carries events, and their dead letters."""
    models = sorted(EVENT_TYPES.values(), key=lambda model: model.event_type)
    keys, definitions = models_json_schema(
        [(model, "validation") for model in models], ref_template="#/components/schemas/{model}")
    schemas: JsonObject = dict(definitions.get("$defs", {}))
    schemas["CloudEventHeaders"] = cloud_event_headers_schema()
    schemas["IntakeHeaders"] = intake_headers_schema()
    schemas["DeadLetterHeaders"] = dead_letter_headers_schema()
    received = NotificationReceived
    schemas["DeathNotification"] = intake_notification_schema(
        schemas[_component_name(keys[(received, "validation")])])

    messages: JsonObject = {}
    channels: JsonObject = {}
    operations: JsonObject = {}

    by_topic: dict[str, list[type[EventPayload]]] = {}
    for model in models:
        by_topic.setdefault(topic_of(model.event_type), []).append(model)
    declared_topics = {value for name, value in vars(topics).items() if name.isupper()}
    for topic, topic_models in sorted(by_topic.items()):
        if topic not in declared_topics:
            raise ValueError(f"{topic} is not declared in dhr_contracts.topics")
        channel_messages: JsonObject = {}
        for model in topic_models:
            messages[model.event_type] = _event_message(
                model, _component_name(keys[(model, "validation")]))
            channel_messages[model.event_type] = {"$ref": f"#/components/messages/{model.event_type}"}
        service = service_of(topic_models[0].event_type)
        channels[topic] = {
            "address": topic,
            "title": f"Events of the {service} service",
            "description": (
                f"Every event of the {service} service, in the order of each review's stream. "
                "Keyed by review id, so one review's events stay in order on one partition; "
                "kept forever: the topic is the history from which any review can be rebuilt. "
                "Delivery is at least once: consumers deduplicate on ce_id."),
            "messages": channel_messages,
            "bindings": {"kafka": _topic_binding(topic, retention_ms=-1)},
        }
        operations[f"send.{topic}"] = {
            "action": "send",
            "title": f"The {service} service publishes its events (outbox relay)",
            "channel": {"$ref": f"#/channels/{topic}"},
            "messages": [{"$ref": f"#/channels/{topic}/messages/{name}"}
                         for name in channel_messages],
        }

    intake = topics.INTAKE_NOTIFICATIONS
    messages["DeathNotification"] = {
        "name": "DeathNotification",
        "title": "Death notification",
        "summary": "A death notified by an agency case system; opens a review case.",
        "contentType": "application/json",
        "headers": {"$ref": "#/components/schemas/IntakeHeaders"},
        "payload": {"$ref": "#/components/schemas/DeathNotification"},
        "bindings": {"kafka": {
            "key": {"type": "string", "description": (
                "Any key the sender likes (its own case reference is a good one); not used for "
                "identity.")},
            "bindingVersion": KAFKA_BINDING_VERSION}},
        "x-personal-data-fields": [],
    }
    channels[intake] = {
        "address": intake,
        "title": "Death notifications from agency case systems",
        "description": (
            "Agency case systems send death notifications here, as an alternative to the HTTP "
            "intake. The commissioning service validates each one and opens a review case "
            "(dhr.commissioning.NotificationReceived.v1); an invalid one goes to the dead-letter "
            "topic."),
        "messages": {"DeathNotification": {"$ref": "#/components/messages/DeathNotification"}},
        "bindings": {"kafka": _topic_binding(intake)},
    }
    operations[f"receive.{intake}"] = {
        "action": "receive",
        "title": "The commissioning service opens a review case for each notification",
        "channel": {"$ref": f"#/channels/{intake}"},
        "messages": [{"$ref": f"#/channels/{intake}/messages/DeathNotification"}],
    }

    checkpoints = topics.OVERSIGHT_CHECKPOINTS
    messages["Checkpoint"] = {
        "name": "Checkpoint",
        "title": "Signed ledger checkpoint",
        "summary": "The oversight ledger's size and root hash, signed: a C2SP tlog-checkpoint "
                   "signed note (docs/audit-export.md).",
        "contentType": "text/plain",
        "payload": {"type": "string", "description": (
            "The signed note in UTF-8: the origin line, the tree size, the base64 root hash, a "
            "blank line, then one Ed25519 signature line per key.")},
        "bindings": {"kafka": {
            "key": {"type": "string", "description": "The ledger's origin line."},
            "bindingVersion": KAFKA_BINDING_VERSION}},
    }
    channels[checkpoints] = {
        "address": checkpoints,
        "title": "Signed checkpoints of the oversight ledger",
        "description": (
            "Every checkpoint the oversight service issues, in order of tree size, for oversight "
            "bodies that keep their own copy and check consistency between checkpoints. Kept "
            "forever."),
        "messages": {"Checkpoint": {"$ref": "#/components/messages/Checkpoint"}},
        "bindings": {"kafka": _topic_binding(checkpoints, retention_ms=-1)},
    }
    operations[f"send.{checkpoints}"] = {
        "action": "send",
        "title": "The oversight service publishes each checkpoint it signs",
        "channel": {"$ref": f"#/channels/{checkpoints}"},
        "messages": [{"$ref": f"#/channels/{checkpoints}/messages/Checkpoint"}],
    }

    messages["DeadLetter"] = {
        "name": "DeadLetter",
        "title": "Dead letter",
        "summary": "A message a consumer gave up on, parked with the reason in its headers.",
        "headers": {"$ref": "#/components/schemas/DeadLetterHeaders"},
        "payload": {"description": (
            "The original record value, byte for byte (it may not be valid JSON: that may be why "
            "it is here). The original key is kept too.")},
    }
    for topic in [intake, *sorted(by_topic)]:
        dead_letters = topics.dead_letter_topic(topic)
        channels[dead_letters] = {
            "address": dead_letters,
            "title": f"Dead letters of {topic}",
            "description": (
                f"Messages of {topic} that a consumer could not apply: a permanent failure at once, "
                "a transient one after its retries. Nothing is dropped silently; an operator "
                "inspects, fixes and replays them."),
            "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
            "bindings": {"kafka": _topic_binding(dead_letters, retention_ms=-1)},
        }
        operations[f"send.{dead_letters}"] = {
            "action": "send",
            "title": f"A consumer of {topic} parks a message it cannot apply",
            "channel": {"$ref": f"#/channels/{dead_letters}"},
            "messages": [{"$ref": f"#/channels/{dead_letters}/messages/DeadLetter"}],
        }

    return {
        "asyncapi": "3.0.0",
        "id": schema_id("asyncapi"),
        "info": {
            "title": "DHR platform events",
            "version": metadata.version("dhr-contracts"),
            "description": (
                "The published language of the Domestic Homicide Review platform on Kafka. Events "
                "travel as CloudEvents 1.0 in binary content mode: attributes in ce_* headers, the "
                "payload as the JSON record value, the review id as the key. Event types carry "
                "their version (dhr.<service>.<Event>.v<N>); old versions are upcast on read. "
                "Fields marked x-personal-data are encrypted per review and can be crypto-shredded. "
                f"Standalone JSON Schemas of each payload and of the envelope sit beside this file "
                f"(see {INDEX_FILE})."),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "The broker of `make run` (DHR_KAFKA_BOOTSTRAP overrides it).",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def _component_name(reference: Mapping[str, Any]) -> str:
    return str(reference["$ref"]).rsplit("/", 1)[-1]


def _event_message(model: type[EventPayload], component: str) -> JsonObject:
    summary = (model.__doc__ or model.event_type).strip().splitlines()[0]
    return {
        "name": model.__name__,
        "title": model.event_type,
        "summary": summary,
        "contentType": "application/json",
        "headers": {"allOf": [
            {"$ref": "#/components/schemas/CloudEventHeaders"},
            {"type": "object", "properties": {"ce_type": {"type": "string", "const": model.event_type}}},
        ]},
        "payload": {"$ref": f"#/components/schemas/{component}"},
        "bindings": {"kafka": {
            "key": {"type": "string", "format": "uuid",
                    "description": "The review id: the payload's review_id and the ce_subject header."},
            "bindingVersion": KAFKA_BINDING_VERSION}},
        "x-personal-data-fields": sorted(model.personal_fields()),
    }


def _topic_binding(topic: str, retention_ms: int | None = None) -> JsonObject:
    binding: JsonObject = {"topic": topic, "bindingVersion": KAFKA_BINDING_VERSION}
    if retention_ms is not None:
        binding["topicConfiguration"] = {"cleanup.policy": ["delete"], "retention.ms": retention_ms}
    return binding


def render() -> dict[str, str]:
    """Every file of contracts/schemas/, by name, as text."""
    files: dict[str, str] = {}
    entries: list[JsonObject] = []
    for event_type, model in sorted(EVENT_TYPES.items()):
        name = schema_file_name(event_type)
        files[name] = dump(event_schema(model))
        entries.append({
            "event_type": event_type,
            "schema": name,
            "sha256": _sha256(files[name]),
            "topic": topic_of(event_type),
            "personal_data_fields": sorted(model.personal_fields()),
        })
    files[ENVELOPE_FILE] = dump(envelope_schema())
    files[ASYNCAPI_FILE] = dump_yaml(asyncapi_document())
    files[INDEX_FILE] = dump({
        "event_types": entries,
        "envelope": {"schema": ENVELOPE_FILE, "sha256": _sha256(files[ENVELOPE_FILE])},
        "asyncapi": {"document": ASYNCAPI_FILE, "sha256": _sha256(files[ASYNCAPI_FILE])},
        "personal_data_marker": PERSONAL_DATA_KEY,
    })
    return files


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def differences(directory: Path, files: Mapping[str, str]) -> list[str]:
    """Files of `directory` that are missing, differ from `files`, or are stale extras."""
    present = {path.name for path in directory.iterdir()
               if path.is_file() and not path.name.startswith(".")} if directory.is_dir() else set()
    problems = [f"missing: {name}" for name in sorted(set(files) - present)]
    problems += [f"differs: {name}" for name in sorted(set(files) & present)
                 if (directory / name).read_bytes() != files[name].encode()]
    problems += [f"stale: {name}" for name in sorted(present - set(files))]
    return problems


def write(directory: Path, files: Mapping[str, str]) -> None:
    """Write `files` into `directory` and remove stale files left by removed event types."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = directory / name
        if not path.is_file() or path.read_bytes() != text.encode():
            path.write_bytes(text.encode())
    for stale in _stale(directory, files):
        stale.unlink()


def _stale(directory: Path, files: Iterable[str]) -> list[Path]:
    expected = set(files)
    return [path for path in directory.iterdir()
            if path.is_file() and not path.name.startswith(".") and path.name not in expected]


def main(argv: Sequence[str] | None = None) -> int:
    """Generate contracts/schemas/, or with --check report whether the committed files are stale."""
    parser = argparse.ArgumentParser(prog="python -m dhr_contracts.schemas", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the files in the directory differ from what the models generate")
    parser.add_argument("--directory", type=Path, default=SCHEMAS_DIR,
                        help="where the files live (default: contracts/schemas)")
    arguments = parser.parse_args(argv)
    files = render()
    if arguments.check:
        problems = differences(arguments.directory, files)
        if problems:
            print(OUT_OF_DATE, *(f"  {problem}" for problem in problems), sep="\n", file=sys.stderr)
            return 1
        print(f"contracts/schemas is up to date ({len(files)} files)")
        return 0
    write(arguments.directory, files)
    print(f"wrote {len(files)} files to {arguments.directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
