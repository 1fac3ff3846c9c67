"""Each service's OpenAPI document is committed in contracts/schemas/openapi/ for integrators, and
matches what the service serves at /openapi.json: regenerate with `make schemas`."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

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
