"""Each service's OpenAPI document is committed in contracts/schemas/openapi/ for integrators, and
matches what the service serves at /openapi.json: regenerate with `make schemas`."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from dhr_platform.app import openapi_text

OPENAPI_DIR = Path(__file__).resolve().parents[2] / "contracts" / "schemas" / "openapi"
SERVICES = ("commissioning", "panel", "learning", "recommendations", "oversight", "integration")


def served_document(service: str) -> str:
    main = importlib.import_module(f"dhr_{service}.__main__")
    config = importlib.import_module(f"dhr_{service}.config")
    settings_class = next(value for name, value in vars(config).items()
                          if name.endswith("Settings") and value.__module__ == config.__name__)
    return openapi_text(main.build_app(settings_class()))


@pytest.mark.parametrize("service", SERVICES)
def test_the_committed_openapi_document_is_what_the_service_serves(service: str) -> None:
    committed = OPENAPI_DIR / f"{service}.json"

    assert committed.is_file(), f"{committed} is missing: run make schemas"
    assert committed.read_text(encoding="utf-8") == served_document(service), (
        f"{committed.name} is out of date: run make schemas and commit the result")


def test_every_committed_document_is_openapi_3_of_a_known_service() -> None:
    assert sorted(path.stem for path in OPENAPI_DIR.glob("*.json")) == sorted(SERVICES)
    for path in OPENAPI_DIR.glob("*.json"):
        document = json.loads(path.read_text(encoding="utf-8"))
        assert document["openapi"].startswith("3.")
        assert "/healthz" in document["paths"] and "/readyz" in document["paths"]


def test_every_field_and_parameter_of_every_service_has_a_bound() -> None:
    """Strings have a maximum length (or an enumeration, a format or a pattern), arrays a
    maximum number of items and integers a maximum, in every request body and parameter of
    every service's OpenAPI document: a caller can never make a service store or search for a
    value of any size (tests/integration/test_hostile_input.py sends them)."""
    unbounded: list[str] = []
    for path in sorted(OPENAPI_DIR.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        components = document.get("components", {}).get("schemas", {})
        for route, methods in document["paths"].items():
            for method, operation in methods.items():
                where = f"{path.stem} {method.upper()} {route}"
                for parameter in operation.get("parameters", []):
                    unbounded += _unbounded(parameter["schema"], components,
                                            f"{where} {parameter['name']}", set())
                for content in operation.get("requestBody", {}).get("content", {}).values():
                    unbounded += _unbounded(content["schema"], components, f"{where} body",
                                            set())
    assert not unbounded, "\n".join(unbounded)


def _unbounded(schema: dict[str, Any], components: dict[str, Any], where: str,
               seen: set[str]) -> list[str]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        return _unbounded(components[name], components, where, seen | {name})
    found: list[str] = []
    for alternative in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        found += _unbounded(alternative, components, where, seen)
    kind = schema.get("type")
    bounded_text = {"maxLength", "enum", "const", "format", "pattern"} & schema.keys()
    if kind == "string" and not bounded_text:
        found.append(f"{where}: a string without maxLength")
    if kind == "array":
        if "maxItems" not in schema:
            found.append(f"{where}: an array without maxItems")
        found += _unbounded(schema.get("items", {}), components, f"{where}[]", seen)
    if kind == "integer" and "maximum" not in schema:
        found.append(f"{where}: an integer without maximum")
    for field, value in schema.get("properties", {}).items():
        found += _unbounded(value, components, f"{where}.{field}", seen)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        found += _unbounded(extra, components, f"{where}.*", seen)
    return found
