"""Contract tests: the committed schemas match the models, and no change breaks published events.

`contracts/schemas/` is generated (`make schemas`); it must never drift from the models. It cannot
tell us on its own whether a change is compatible, because regenerating it rewrites the baseline.
So two frozen baselines live here, written when an event type is first published:
`examples/<event_type>.json` (real payloads that must parse for ever) and
`published/<event_type>.schema.json` (the schema as published). A change that breaks either must
be a new `.v2` event type with an upcaster in `dhr_contracts.registry.UPCASTERS`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dhr_contracts import schemas, topics
from dhr_contracts.base import PERSONAL_DATA_KEY
from dhr_contracts.commissioning import ChairAppointed, NotificationReceived
from dhr_contracts.registry import EVENT_TYPES, UPCASTERS, parse_payload, parse_payload_json, upcast

HERE = Path(__file__).parent
EXAMPLES = HERE / "examples"
PUBLISHED = HERE / "published"
EVENT_TYPE_NAME = re.compile(r"^dhr\.[a-z]+\.[A-Z][A-Za-z]+\.v[0-9]+$")
SCHEMA_SUFFIX = ".schema.json"

# Keys that document a schema without changing what it accepts.
ANNOTATIONS = {"title", "description", "default", "examples", "$comment"}
# Bounds a new schema may relax but never tighten: keyword -> True when larger is looser.
BOUNDS = {"minimum": False, "exclusiveMinimum": False, "minLength": False, "minItems": False,
          "maximum": True, "exclusiveMaximum": True, "maxLength": True, "maxItems": True}


def load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return yaml.safe_load(text) if path.suffix == ".yaml" else json.loads(text)


def published_event_types() -> list[str]:
    return sorted(path.name.removesuffix(SCHEMA_SUFFIX) for path in PUBLISHED.glob(f"*{SCHEMA_SUFFIX}"))


def example_event_types() -> list[str]:
    return sorted(path.stem for path in EXAMPLES.glob("*.json"))


# --- drift -----------------------------------------------------------------------------------


def test_the_committed_schemas_are_what_the_models_generate(tmp_path: Path) -> None:
    schemas.write(tmp_path, schemas.render())
    generated = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    committed = {path.name: path.read_bytes() for path in schemas.SCHEMAS_DIR.iterdir()
                 if path.is_file() and not path.name.startswith(".")}
    drifted = sorted(name for name in generated.keys() | committed.keys()
                     if generated.get(name) != committed.get(name))
    assert not drifted, f"contracts/schemas is out of date: run `make schemas` (differs: {drifted})"


def test_the_check_reports_missing_differing_and_stale_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = schemas.render()
    schemas.write(tmp_path, files)
    assert schemas.main(["--check", "--directory", str(tmp_path)]) == 0

    (tmp_path / schemas.INDEX_FILE).unlink()
    (tmp_path / schemas.ENVELOPE_FILE).write_text("{}\n")
    (tmp_path / "dhr.commissioning.Retired.v1.schema.json").write_text("{}\n")
    capsys.readouterr()

    assert schemas.main(["--check", "--directory", str(tmp_path)]) == 1
    report = capsys.readouterr().err
    assert "contracts/schemas is out of date: run make schemas" in report
    assert f"missing: {schemas.INDEX_FILE}" in report
    assert f"differs: {schemas.ENVELOPE_FILE}" in report
    assert "stale: dhr.commissioning.Retired.v1.schema.json" in report


def test_generating_twice_gives_the_same_bytes() -> None:
    assert schemas.render() == schemas.render()


def test_the_index_lists_every_event_type_with_the_hash_of_its_schema() -> None:
    index = load(schemas.SCHEMAS_DIR / schemas.INDEX_FILE)
    listed = {entry["event_type"]: entry for entry in index["event_types"]}
    assert set(listed) == set(EVENT_TYPES)
    for event_type, entry in listed.items():
        assert entry["schema"] == schemas.schema_file_name(event_type)
        text = (schemas.SCHEMAS_DIR / entry["schema"]).read_text(encoding="utf-8")
        assert entry["sha256"] == schemas._sha256(text)


# --- backward compatibility ------------------------------------------------------------------


def test_every_event_type_has_examples_and_a_published_schema() -> None:
    missing_examples = sorted(set(EVENT_TYPES) - set(example_event_types()))
    missing_published = sorted(set(EVENT_TYPES) - set(published_event_types()))
    assert not missing_examples, f"write tests/contract/examples/<event_type>.json for {missing_examples}"
    assert not missing_published, (
        f"publish {missing_published}: copy contracts/schemas/<event_type>.schema.json to "
        "tests/contract/published/ (once; it is never regenerated)")


@pytest.mark.parametrize("event_type", example_event_types())
def test_every_example_of_a_published_event_still_parses(event_type: str) -> None:
    examples = load(EXAMPLES / f"{event_type}.json")
    assert isinstance(examples, list) and examples, "examples are a non-empty list of payloads"
    for data in examples:
        payload = parse_payload(event_type, data)
        assert payload.event_type == upcast(event_type, data)[0]
        # As a replay reads it from a record's value: the same payload, validated from the text.
        assert parse_payload_json(event_type, json.dumps(data).encode()) == payload


@pytest.mark.parametrize("event_type", published_event_types())
def test_a_published_event_type_is_still_readable(event_type: str) -> None:
    assert event_type in EVENT_TYPES or event_type in UPCASTERS, (
        f"{event_type} was published: keep its model, or add an upcaster to a newer version")


def _baselines() -> list[tuple[Path, str]]:
    """Each event type against each baseline that has it; a type without a published schema is
    caught by test_every_event_type_has_examples_and_a_published_schema instead."""
    return [(baseline, event_type)
            for baseline in (PUBLISHED, schemas.SCHEMAS_DIR)
            for event_type in sorted(EVENT_TYPES)
            if (baseline / schemas.schema_file_name(event_type)).exists()]


@pytest.mark.parametrize(("baseline", "event_type"), _baselines(),
                         ids=lambda value: value.name if isinstance(value, Path) else value)
def test_no_field_is_removed_retyped_or_newly_required(baseline: Path, event_type: str) -> None:
    old = load(baseline / schemas.schema_file_name(event_type))
    new = schemas.event_schema(EVENT_TYPES[event_type])
    problems = breaking_changes(old, new, old, new, "")
    assert not problems, (
        f"{event_type} changed incompatibly: {problems}. Publish a new version "
        f"({event_type.rsplit('.', 1)[0]}.v<N+1>) with an upcaster in dhr_contracts.registry instead.")


def test_the_compatibility_check_catches_breaking_changes() -> None:
    old = {"type": "object", "required": ["a"], "properties": {
        "a": {"type": "string", "maxLength": 200},
        "b": {"enum": ["x", "y"]},
        "c": {"type": "integer"},
    }}
    assert breaking_changes(old, old, old, old, "") == []
    widened = {"type": "object", "required": ["a"], "properties": {
        "a": {"anyOf": [{"type": "string", "maxLength": 300}, {"type": "null"}]},
        "b": {"enum": ["x", "y", "z"]},
        "c": {"type": "integer"},
        "d": {"type": "string"},
    }}
    assert breaking_changes(old, widened, old, widened, "") == []
    narrowed = {"type": "object", "required": ["a", "d"], "properties": {
        "a": {"type": "string", "maxLength": 100},
        "b": {"enum": ["x"]},
        "d": {"type": "string"},
    }}
    problems = breaking_changes(old, narrowed, old, narrowed, "")
    assert len(problems) == 4, problems


def breaking_changes(old: Any, new: Any, old_root: Any, new_root: Any, path: str) -> list[str]:
    """Ways in which data valid against `old` may be refused by `new` (empty: compatible)."""
    old, new = resolve(old, old_root), resolve(new, new_root)
    if meaning(old, old_root) == meaning(new, new_root):
        return []
    where = path or "payload"
    if "anyOf" in new:
        old_options = old.get("anyOf", [old])
        refused = [option for option in old_options
                   if all(breaking_changes(option, candidate, old_root, new_root, path)
                          for candidate in new["anyOf"])]
        return [f"{where}: no longer accepts {meaning(option, old_root)}" for option in refused]
    if "anyOf" in old:
        return [f"{where}: was a choice of {len(old['anyOf'])} types, now only one"]
    if "enum" in old and "enum" in new:
        removed = sorted(set(map(str, old["enum"])) - set(map(str, new["enum"])))
        return [f"{where}: values removed {removed}"] if removed else []
    problems = []
    for keyword in ("type", "format", "const", "pattern", "enum"):
        if old.get(keyword) != new.get(keyword):
            problems.append(f"{where}: {keyword} {old.get(keyword)!r} -> {new.get(keyword)!r}")
    for keyword, larger_is_looser in BOUNDS.items():
        if keyword in new and (keyword not in old or (
                new[keyword] < old[keyword] if larger_is_looser else new[keyword] > old[keyword])):
            problems.append(f"{where}: {keyword} {old.get(keyword)!r} -> {new[keyword]!r}")
    if "items" in old or "items" in new:
        problems += breaking_changes(old.get("items", {}), new.get("items", {}),
                                     old_root, new_root, f"{path}[]")
    if "properties" in old or "properties" in new:
        old_properties, new_properties = old.get("properties", {}), new.get("properties", {})
        problems += [f"{where}: field {name!r} removed" for name in sorted(old_properties)
                     if name not in new_properties]
        problems += [f"{where}: field {name!r} newly required" for name in
                     sorted(set(new.get("required", [])) - set(old.get("required", [])))]
        for name in sorted(old_properties.keys() & new_properties.keys()):
            problems += breaking_changes(old_properties[name], new_properties[name],
                                         old_root, new_root, f"{path}.{name}".lstrip("."))
    return problems


def resolve(schema: Any, root: Any) -> Any:
    """Follow a local `$ref` (keeping nothing but annotations of the referring schema)."""
    while isinstance(schema, dict) and "$ref" in schema:
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = target
    return schema


def meaning(schema: Any, root: Any) -> Any:
    """A schema with its references resolved and its annotations dropped."""
    schema = resolve(schema, root)
    if isinstance(schema, dict):
        return {key: meaning(value, root) for key, value in schema.items()
                if key not in ANNOTATIONS and not key.startswith("x-")}
    if isinstance(schema, list):
        return [meaning(item, root) for item in schema]
    return schema


# --- naming and documentation ----------------------------------------------------------------


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_an_event_type_is_a_stable_versioned_name(event_type: str) -> None:
    assert EVENT_TYPE_NAME.match(event_type), f"{event_type} is not dhr.<service>.<Event>.v<N>"
    assert EVENT_TYPES[event_type].event_type == event_type


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_field_of_a_payload_has_a_description(event_type: str) -> None:
    schema = schemas.event_schema(EVENT_TYPES[event_type])
    # pydantic drops a field's description when it repeats its type's docstring: either will do.
    undescribed = [name for name, field in properties(schema)
                   if not (field.get("description") or resolve(field, schema).get("description"))]
    assert not undescribed, f"{event_type}: give these fields Field(description=...): {undescribed}"


def properties(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property of the schema and of the models it defines, as (dotted name, schema)."""
    for owner, definition in [("", schema), *schema.get("$defs", {}).items()]:
        for name, field in definition.get("properties", {}).items():
            yield f"{owner}.{name}".lstrip("."), field


# --- personal data ---------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "fields"), [
    (NotificationReceived, {"victim_name", "suspect_name"}),
    (ChairAppointed, {"chair_name"}),
])
def test_personal_data_fields_are_marked_in_the_committed_schema(model: Any, fields: set[str]) -> None:
    schema = load(schemas.SCHEMAS_DIR / schemas.schema_file_name(model.event_type))
    for name in fields:
        assert schema["properties"][name].get(PERSONAL_DATA_KEY) is True, f"{name} is not marked"
    assert fields <= set(schema["x-personal-data-fields"])
    assert set(schema["x-personal-data-fields"]) == model.personal_fields()


def test_the_intake_notification_takes_no_personal_data_on_kafka() -> None:
    document = load(schemas.SCHEMAS_DIR / schemas.ASYNCAPI_FILE)
    notification = document["components"]["schemas"]["DeathNotification"]
    assert {"victim_name", "suspect_name"}.isdisjoint(notification["properties"])
    assert not any(field.get(PERSONAL_DATA_KEY) for field in notification["properties"].values())
    assert document["components"]["messages"]["DeathNotification"]["x-personal-data-fields"] == []


# --- the AsyncAPI document -------------------------------------------------------------------


def test_the_asyncapi_document_describes_every_event_on_its_service_topic() -> None:
    document = load(schemas.SCHEMAS_DIR / schemas.ASYNCAPI_FILE)
    assert document["asyncapi"] == "3.0.0"
    channel = document["channels"][topics.COMMISSIONING_EVENTS]
    assert set(channel["messages"]) == {name for name in EVENT_TYPES if ".commissioning." in name}
    for event_type in channel["messages"]:
        message = document["components"]["messages"][event_type]
        assert message["bindings"]["kafka"]["key"]["format"] == "uuid"
        assert message["headers"]["allOf"][1]["properties"]["ce_type"]["const"] == event_type
    headers = document["components"]["schemas"]["CloudEventHeaders"]
    assert {"ce_id", "ce_source", "ce_type", "ce_subject", "ce_time", "ce_specversion",
            "content-type"} <= set(headers["required"])


def test_the_intake_payload_is_a_notification_without_the_server_set_fields_or_names() -> None:
    document = load(schemas.SCHEMAS_DIR / schemas.ASYNCAPI_FILE)
    assert document["channels"][topics.INTAKE_NOTIFICATIONS]["messages"]
    notification = document["components"]["schemas"]["DeathNotification"]
    expected = (set(NotificationReceived.model_fields) - set(schemas.SERVER_SET_NOTIFICATION_FIELDS)
                - NotificationReceived.personal_fields())
    assert set(notification["properties"]) == expected
    assert not set(notification["required"]) & set(schemas.SERVER_SET_NOTIFICATION_FIELDS)


def test_every_topic_with_messages_has_a_documented_dead_letter_topic() -> None:
    document = load(schemas.SCHEMAS_DIR / schemas.ASYNCAPI_FILE)
    for topic in (topics.INTAKE_NOTIFICATIONS, topics.COMMISSIONING_EVENTS):
        assert topics.dead_letter_topic(topic) in document["channels"]
    dead_letter_headers = document["components"]["schemas"]["DeadLetterHeaders"]
    assert set(dead_letter_headers["required"]) == {
        "dlq_consumer", "dlq_original_topic", "dlq_original_partition", "dlq_original_offset",
        "dlq_error_type", "dlq_error_message", "dlq_attempts", "dlq_failed_at"}


def test_every_reference_in_the_asyncapi_document_resolves() -> None:
    document = load(schemas.SCHEMAS_DIR / schemas.ASYNCAPI_FILE)
    for reference in references(document):
        assert reference.startswith("#/"), reference
        resolve({"$ref": reference}, document)


def references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)
