"""docker-compose.yml, checked without a Docker engine: against the Compose Specification's JSON
Schema (tests/deploy/schemas/compose-spec, see its README), and every DHR_* variable against the
settings of the service it configures."""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from deploy_support import (
    REPOSITORY,
    SERVICES,
    SETTINGS,
    default_port,
    required_variables,
    setting_variables,
)

pytestmark = pytest.mark.deploy

COMPOSE_FILE = REPOSITORY / "docker-compose.yml"
COMPOSE_SCHEMA = REPOSITORY / "tests" / "deploy" / "schemas" / "compose-spec" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def compose_errors(document: Any) -> list[str]:
    validator = jsonschema.Draft201909Validator(json.loads(COMPOSE_SCHEMA.read_text()))
    return [f"{'/'.join(map(str, error.path))}: {error.message}"
            for error in validator.iter_errors(document)]


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {name: str(value) for name, value in environment.items()}


def test_the_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    assert compose_errors(compose) == []


def test_the_specification_check_catches_a_misspelt_key(compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["kafka"]["helthcheck"] = broken["services"]["kafka"].pop("healthcheck")

    assert any("helthcheck" in error for error in compose_errors(broken))


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_is_built_from_its_dockerfile_target(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]

    assert service["build"] == {"context": ".", "target": name}
    assert service["image"].startswith(f"dhr/{name}:")
    assert f"127.0.0.1:{default_port(name)}:{default_port(name)}" in service["ports"]


@pytest.mark.parametrize("name", SERVICES)
def test_every_dhr_variable_is_a_setting_of_that_service_and_parses(
        compose: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    environment = environment_of(compose["services"][name])
    variables = {variable for variable in environment if variable.startswith("DHR_")}

    assert variables - setting_variables(name) == set(), "not settings of the service"
    assert required_variables(name) <= variables, "required settings are missing"
    # The variables the native run sets (dhr_local.run), with the service's own port.
    assert {"DHR_DATABASE_URL", "DHR_KAFKA_BOOTSTRAP", "DHR_HTTP_PORT"} <= variables
    for variable in list(os.environ):
        if variable.startswith("DHR_"):
            monkeypatch.delenv(variable)
    for variable in variables:
        monkeypatch.setenv(variable, environment[variable])
    settings = SETTINGS[name]()  # pydantic validates every value as the service will at start
    assert settings.http_port == default_port(name)
    assert settings.http_host == "0.0.0.0"


def test_the_services_reach_kafka_and_postgres_by_their_compose_names(compose: dict[str, Any]) -> None:
    postgres = environment_of(compose["services"]["postgres"])
    kafka = environment_of(compose["services"]["kafka"])
    advertised = {listener.split("://")[1] for listener in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    for name in SERVICES:
        environment = environment_of(compose["services"][name])
        url = urlsplit(environment["DHR_DATABASE_URL"])
        assert (url.hostname, url.port) == ("postgres", 5432)
        assert (url.username, url.password, url.path) == (
            postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"], f"/{postgres['POSTGRES_DB']}")
        assert environment["DHR_KAFKA_BOOTSTRAP"] in advertised


def test_kafka_runs_in_kraft_mode_from_the_official_image(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    environment = environment_of(kafka)

    assert kafka["image"].startswith("apache/kafka:")
    assert compose["services"]["postgres"]["image"].startswith("postgres:")
    assert set(environment["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in variable for variable in environment)
    # Topics are created by the services with infinite retention, never by a stray producer.
    assert environment["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "kafka-data:/var/lib/kafka/data" in kafka["volumes"]
    assert environment["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"


@pytest.mark.parametrize("name", SERVICES)
def test_services_start_after_healthy_kafka_and_postgres_and_report_readiness(
        compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]

    assert service["depends_on"]["kafka"] == {"condition": "service_healthy"}
    assert service["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert f"http://127.0.0.1:{default_port(name)}/readyz" in " ".join(service["healthcheck"]["test"])
    assert service["read_only"] is True and service["cap_drop"] == ["ALL"]


def test_every_service_waited_for_as_healthy_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in compose["services"], f"{name} depends on unknown {dependency}"
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in compose["services"][dependency], \
                    f"{name} waits for {dependency} to be healthy, which it can never be"


def test_traces_go_through_the_collector_to_jaeger(compose: dict[str, Any]) -> None:
    collector = compose["services"]["otel-collector"]
    mounted, inside = collector["volumes"][0].split(":")[:2]
    config = yaml.safe_load((REPOSITORY / mounted).read_text())

    assert collector["image"].startswith("otel/opentelemetry-collector")
    assert f"--config={inside}" in collector["command"]
    for pipeline in config["service"]["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            assert set(pipeline.get(kind, [])) <= set(config[kind]), f"undefined {kind}"
    (exporter,) = config["service"]["pipelines"]["traces"]["exporters"]
    assert config["exporters"][exporter]["endpoint"].split(":")[0] == "jaeger"
    assert compose["services"]["jaeger"]["image"].startswith("jaegertracing/")
    for name in SERVICES:
        environment = environment_of(compose["services"][name])
        # OTLP over HTTP, the services' exporter (the collector listens on 4318 for it).
        assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
        assert "OTEL_EXPORTER_OTLP_PROTOCOL" not in environment
        assert environment["OTEL_SERVICE_NAME"] == f"dhr-{name}"


def test_the_oversight_development_key_survives_restarts(compose: dict[str, Any]) -> None:
    oversight = compose["services"]["oversight"]
    state_dir = environment_of(oversight)["DHR_STATE_DIR"]

    assert f"oversight-state:{state_dir}" in oversight["volumes"]
    assert "oversight-state" in compose["volumes"]
