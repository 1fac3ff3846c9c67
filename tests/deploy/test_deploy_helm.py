"""The Helm chart deploy/helm/dhr, checked offline: `helm lint --strict`, `helm template` with the
default and with production-like values (tests/deploy/helm-values-production.yaml), every
manifest against Kubernetes' schemas (kubernetes-validate, strict), the Strimzi resources against
their CRDs (tests/deploy/schemas/strimzi), and the chart against what the code does."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from deploy_support import (
    REPOSITORY,
    SERVICES,
    SETTINGS,
    all_topics,
    kafka_access,
    pod_specs,
    required_variables,
    restricted_violations,
    setting_variables,
    strict_schema,
)

# The first test may build helm (deploy/helm/install-helm, a few minutes, once per machine).
pytestmark = [pytest.mark.deploy, pytest.mark.timeout(1800)]

CHART = REPOSITORY / "deploy" / "helm" / "dhr"
PRODUCTION_VALUES = REPOSITORY / "tests" / "deploy" / "helm-values-production.yaml"
MINIMAL_VALUES = REPOSITORY / "tests" / "deploy" / "helm-values-minimal.yaml"
MINIMAL = ("--values", str(MINIMAL_VALUES))
STRIMZI = REPOSITORY / "tests" / "deploy" / "schemas" / "strimzi"
STRIMZI_CRDS = {"KafkaTopic": STRIMZI / "043-Crd-kafkatopic.yaml",
                "KafkaUser": STRIMZI / "044-Crd-kafkauser.yaml"}
MINIMUM_KUBERNETES = "1.30.0"  # the chart's kubeVersion
RELEASE, NAMESPACE = "dhr", "dhr"
CUSTOM_RESOURCES = {"KafkaTopic", "KafkaUser", "ServiceMonitor"}
RENDERINGS = {"default": MINIMAL, "production": (*MINIMAL, "--values", str(PRODUCTION_VALUES))}


@pytest.fixture(scope="session")
def helm() -> str:
    installed = subprocess.run(["bash", str(REPOSITORY / "deploy" / "helm" / "install-helm")],
                               capture_output=True, text=True, check=False, timeout=1700)
    assert installed.returncode == 0, installed.stderr
    return installed.stdout.strip()


def run_helm(helm: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm, *arguments], capture_output=True, text=True, check=False, timeout=120)


@cache
def _render(helm: str, arguments: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    rendered = run_helm(helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
                        "--kube-version", MINIMUM_KUBERNETES, *arguments)
    assert rendered.returncode == 0, rendered.stderr
    return tuple(doc for doc in yaml.safe_load_all(rendered.stdout) if doc)


def render(helm: str, *arguments: str) -> list[dict[str, Any]]:
    return json.loads(json.dumps(_render(helm, arguments)))  # a copy the test may change


@dataclass
class Rendering:
    name: str
    documents: list[dict[str, Any]]
    values: dict[str, Any]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc in self.documents if doc["kind"] == kind]

    def one(self, kind: str, name: str) -> dict[str, Any]:
        (found,) = [doc for doc in self.of_kind(kind) if doc["metadata"]["name"] == name]
        return found


@pytest.fixture(scope="module", params=list(RENDERINGS))
def rendering(request: pytest.FixtureRequest, helm: str) -> Rendering:
    values = _merged(yaml.safe_load((CHART / "values.yaml").read_text()),
                     yaml.safe_load(MINIMAL_VALUES.read_text()))
    if request.param == "production":
        values = _merged(values, yaml.safe_load(PRODUCTION_VALUES.read_text()))
    return Rendering(request.param, render(helm, *RENDERINGS[request.param]), values)


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        both_maps = isinstance(value, dict) and isinstance(base.get(key), dict)
        merged[key] = _merged(base[key], value) if both_maps else value
    return merged


def service_values(values: dict[str, Any], service: str) -> dict[str, Any]:
    return _merged(values["serviceDefaults"], values["services"][service])


def deployment_of(rendering: Rendering, service: str) -> dict[str, Any]:
    return rendering.one("Deployment", f"{RELEASE}-{service}")


# --- the chart as Helm and Kubernetes see it ----------------------------------------------------

@pytest.mark.parametrize("values", list(RENDERINGS))
def test_the_chart_lints_strictly(helm: str, values: str) -> None:
    linted = run_helm(helm, "lint", "--strict", "--kube-version", MINIMUM_KUBERNETES, str(CHART),
                      *RENDERINGS[values])

    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_every_manifest_is_valid_kubernetes_in_strict_mode(rendering: Rendering) -> None:
    versions = [MINIMUM_KUBERNETES, kubernetes_validate.latest_version()]
    checked = 0
    for doc in rendering.documents:
        if doc["kind"] in CUSTOM_RESOURCES:
            continue
        for version in versions:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} on {version}: "
                            f"{'/'.join(map(str, error.path))}: {error.message}")
        checked += 1

    assert {doc["kind"] for doc in rendering.documents} >= {
        "Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "NetworkPolicy", "Job",
        "ServiceAccount", "KafkaTopic", "KafkaUser"}
    assert checked >= 5 * 6


def test_the_strict_check_refuses_an_unknown_field(rendering: Rendering) -> None:
    deployment = deployment_of(rendering, "panel")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, MINIMUM_KUBERNETES, strict=True)


@cache
def strimzi_validator(kind: str, api_version: str) -> jsonschema.Draft7Validator:
    crd = yaml.safe_load(STRIMZI_CRDS[kind].read_text())
    group, version = api_version.split("/")
    assert crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == kind
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version and v["served"]]
    return jsonschema.Draft7Validator(strict_schema(served["schema"]["openAPIV3Schema"]))


def strimzi_errors(doc: dict[str, Any]) -> list[str]:
    validator = strimzi_validator(doc["kind"], doc["apiVersion"])
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]


def test_the_strimzi_resources_follow_their_crd_schemas(rendering: Rendering) -> None:
    resources = rendering.of_kind("KafkaTopic") + rendering.of_kind("KafkaUser")
    expected_version = rendering.values["strimzi"]["apiVersion"]

    assert resources
    for doc in resources:
        assert doc["apiVersion"] == expected_version
        assert strimzi_errors(doc) == [], f"{doc['kind']}/{doc['metadata']['name']}"
        # Kubernetes names: DNS subdomains (dots are allowed, so a topic name is one).
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": doc["metadata"]},
                                     MINIMUM_KUBERNETES, strict=True)


def test_the_strimzi_check_refuses_a_misspelt_field(rendering: Rendering) -> None:
    user = rendering.of_kind("KafkaUser")[0]
    user["spec"]["authorization"]["acls"][0]["operatoins"] = ["Read"]

    assert any("operatoins" in error for error in strimzi_errors(user))


# --- Kafka: topics and least-privilege users -----------------------------------------------------

def test_every_topic_the_services_use_is_a_permanent_kafkatopic(rendering: Rendering) -> None:
    topics = rendering.of_kind("KafkaTopic")
    strimzi = rendering.values["strimzi"]

    assert {topic["spec"]["topicName"] for topic in topics} == all_topics()
    for topic in topics:
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == strimzi["clusterName"]
        assert topic["metadata"]["namespace"] == (strimzi["namespace"] or NAMESPACE)
        assert topic["spec"]["config"]["retention.ms"] == -1
        assert topic["spec"]["config"]["retention.bytes"] == -1
        assert topic["spec"]["config"]["min.insync.replicas"] <= topic["spec"]["replicas"]


def _acls(user: dict[str, Any], resource_type: str, operation: str) -> set[str]:
    return {acl["resource"]["name"] for acl in user["spec"]["authorization"]["acls"]
            if acl["resource"]["type"] == resource_type and operation in acl["operations"]}


@pytest.mark.parametrize("service", SERVICES)
def test_each_kafkauser_grants_exactly_what_its_service_does(rendering: Rendering, service: str) -> None:
    user = rendering.one("KafkaUser", f"{RELEASE}-{service}")
    access = kafka_access(service)
    acls = user["spec"]["authorization"]["acls"]

    assert _acls(user, "topic", "Write") == access.writes
    assert _acls(user, "topic", "Read") == access.reads
    assert _acls(user, "group", "Read") == access.groups
    # Describe: the topic metadata a service checks at start (it creates no topic itself here).
    assert _acls(user, "topic", "Describe") >= access.ensured
    for acl in acls:
        assert acl["resource"]["patternType"] == "literal"
        assert acl["resource"]["type"] in {"topic", "group"}
        assert set(acl["operations"]) <= {"Read", "Write", "Describe"}
        assert acl.get("type", "allow") == "allow"
    authentication = rendering.values["strimzi"]["users"]["authentication"]
    assert user["spec"].get("authentication", {}).get("type", "") == authentication


def test_agency_intake_producers_may_only_write_the_intake_topic(rendering: Rendering) -> None:
    producers = rendering.values["strimzi"]["intakeProducers"]
    users = [user for user in rendering.of_kind("KafkaUser")
             if user["metadata"]["name"] in producers]

    assert len(users) == len(producers)
    for user in users:
        assert user["spec"]["authorization"]["acls"] == [{
            "resource": {"type": "topic", "name": "dhr.intake.notifications.v1", "patternType": "literal"},
            "operations": ["Write", "Describe"], "host": "*"}]


# --- pods ------------------------------------------------------------------------------------------

def test_every_pod_passes_the_restricted_pod_security_standard(rendering: Rendering) -> None:
    pods = pod_specs(rendering.documents)

    assert len(pods) == 2 * len(SERVICES)  # a Deployment and a migration Job per service
    for name, pod in pods.items():
        assert restricted_violations(pod) == [], name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
            (volume,) = [v for v in pod["volumes"] if v["name"] == tmp["name"]]
            assert "emptyDir" in volume
            assert set(container["resources"]) == {"requests", "limits"}
            assert {"cpu", "memory"} <= set(container["resources"]["limits"])


def test_the_restricted_check_catches_a_pod_that_breaks_it(rendering: Rendering) -> None:
    pod = deployment_of(rendering, "learning")["spec"]["template"]["spec"]
    pod["containers"][0]["securityContext"]["capabilities"] = {"add": ["SYS_ADMIN"]}
    pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    pod["volumes"].append({"name": "host", "hostPath": {"path": "/"}})

    assert len(restricted_violations(pod)) == 4


@pytest.mark.parametrize("service", SERVICES)
def test_liveness_asks_the_process_and_readiness_the_database_and_kafka(
        rendering: Rendering, service: str) -> None:
    deployment = deployment_of(rendering, service)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    port = service_values(rendering.values, service)["port"]
    kube_service = rendering.one("Service", f"{RELEASE}-{service}")
    config = rendering.one("ConfigMap", f"{RELEASE}-{service}")["data"]

    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    assert config["DHR_HTTP_PORT"] == str(port) and config["DHR_HTTP_HOST"] == "0.0.0.0"
    assert kube_service["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http",
                                              "protocol": "TCP"}]
    assert kube_service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert container["args"] == ["serve"]


def _container_environment(rendering: Rendering, pod: dict[str, Any]) -> tuple[dict[str, str], set[str]]:
    """The literal variables a container gets (ConfigMaps by envFrom, then env) and the names of
    those that come from elsewhere (Secrets and other references)."""
    (container,) = pod["containers"]
    literal: dict[str, str] = {}
    referenced: set[str] = set()
    for source in container.get("envFrom", []):
        literal.update(rendering.one("ConfigMap", source["configMapRef"]["name"])["data"])
    for variable in container.get("env", []):
        if "value" in variable:
            literal[variable["name"]] = variable["value"]
        else:
            referenced.add(variable["name"])
    return literal, referenced


@pytest.mark.parametrize("service", SERVICES)
def test_every_dhr_variable_is_a_setting_of_its_service_and_parses(
        rendering: Rendering, service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pod = deployment_of(rendering, service)["spec"]["template"]["spec"]
    literal, referenced = _container_environment(rendering, pod)
    variables = {name for name in {*literal, *referenced} if name.startswith("DHR_")}

    assert variables - setting_variables(service) == set(), "not settings of the service"
    assert required_variables(service) | {"DHR_DATABASE_URL", "DHR_KAFKA_BOOTSTRAP"} <= variables
    assert "DHR_DATABASE_URL" in referenced, "a database URL holds a password: never in a ConfigMap"
    for name in list(os.environ):
        if name.startswith("DHR_"):
            monkeypatch.delenv(name)
    for name, value in literal.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DHR_DATABASE_URL", "postgresql://user:Rk7-not-a-placeholder@postgresql:5432/dhr")
    assert "DHR_PERSONAL_DATA_KEK" in referenced, "the key-encryption key comes from the Secret"
    monkeypatch.setenv("DHR_PERSONAL_DATA_KEK", base64.b64encode(os.urandom(32)).decode())
    settings = SETTINGS[service]()  # each value parses as the service parses it at start
    settings.refuse_development_defaults()
    assert settings.environment == rendering.values["config"]["environment"]


# Volumes of Secrets the chart does not hold: Strimzi's (the KafkaUsers', the cluster CA) and the
# TLS material of PostgreSQL (tests below).
TRANSPORT_VOLUMES = {"kafka-user", "kafka-ca", "database-ca", "database-client"}


def test_credentials_come_from_the_chart_secret_or_an_existing_one(rendering: Rendering) -> None:
    existing = rendering.values["secrets"]["existingSecret"]
    secrets = {doc["metadata"]["name"]: doc for doc in rendering.of_kind("Secret")}
    referenced: set[str] = set()
    for pod in pod_specs(rendering.documents).values():
        for variable in pod["containers"][0].get("env", []):
            if "secretKeyRef" in variable.get("valueFrom", {}):
                referenced.add(variable["valueFrom"]["secretKeyRef"]["name"])
        referenced |= {volume["secret"]["secretName"] for volume in pod["volumes"]
                       if "secret" in volume and volume["name"] not in TRANSPORT_VOLUMES}

    if existing:
        assert secrets == {}, "the chart must not create a Secret next to the existing one"
        assert referenced == {existing}
    else:
        assert set(secrets) == referenced == {f"{RELEASE}-secrets", f"{RELEASE}-migrations"}
        keys = set(secrets[f"{RELEASE}-secrets"]["stringData"])
        assert keys == {f"{service}-database-url" for service in SERVICES} | {
            "oversight-signing-keys", "personal-data-kek"}


def test_the_oversight_signing_keys_are_a_mounted_file(rendering: Rendering) -> None:
    pod = deployment_of(rendering, "oversight")["spec"]["template"]["spec"]
    literal, _ = _container_environment(rendering, pod)
    key_file = Path(literal["DHR_OVERSIGHT_SIGNING_KEY_FILE"])
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == str(key_file.parent)]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]

    assert mount["readOnly"] is True
    assert volume["secret"]["items"] == [{"key": "oversight-signing-keys", "path": key_file.name}]
    for service in set(SERVICES) - {"oversight"}:
        other = deployment_of(rendering, service)["spec"]["template"]["spec"]
        assert not [v for v in other["volumes"] if "secret" in v
                    and v["name"] not in TRANSPORT_VOLUMES], f"{service} sees the signing key"


# --- Kafka and PostgreSQL connections ---------------------------------------------------------

def _mounted_file(pod: dict[str, Any], path: str) -> tuple[str, str]:
    """The Secret and key that a file of the container comes from (mounted read-only)."""
    (container,) = pod["containers"]
    directory, name = path.rsplit("/", 1)
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == directory]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    (item,) = [i for i in volume["secret"]["items"] if i["path"] == name]
    assert mount["readOnly"] is True
    return volume["secret"]["secretName"], item["key"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_logs_in_to_kafka_with_the_secret_of_its_kafkauser(
        rendering: Rendering, service: str) -> None:
    pod = deployment_of(rendering, service)["spec"]["template"]["spec"]
    literal, _ = _container_environment(rendering, pod)
    values = rendering.values
    user = f"{RELEASE}-{service}"
    secret = values["config"]["kafka"]["users"].get(service, {}).get("secret", user)
    ca = values["config"]["kafka"]["caSecret"] or f"{values['strimzi']['clusterName']}-cluster-ca-cert"

    assert user in {kafka_user["metadata"]["name"] for kafka_user in rendering.of_kind("KafkaUser")}
    assert _mounted_file(pod, literal["DHR_KAFKA_SSL_CAFILE"]) == (ca, "ca.crt")
    if values["strimzi"]["users"]["authentication"] == "scram-sha-512":
        assert (literal["DHR_KAFKA_SECURITY_PROTOCOL"], literal["DHR_KAFKA_SASL_MECHANISM"],
                literal["DHR_KAFKA_SASL_USERNAME"]) == ("SASL_SSL", "SCRAM-SHA-512", user)
        assert _mounted_file(pod, literal["DHR_KAFKA_SASL_PASSWORD_FILE"]) == (secret, "password")
    else:  # tls: mutual TLS with the user's certificate
        assert literal["DHR_KAFKA_SECURITY_PROTOCOL"] == "SSL"
        assert _mounted_file(pod, literal["DHR_KAFKA_SSL_CERTFILE"]) == (secret, "user.crt")
        assert _mounted_file(pod, literal["DHR_KAFKA_SSL_KEYFILE"]) == (secret, "user.key")
        assert not {"DHR_KAFKA_SASL_USERNAME", "DHR_KAFKA_SASL_PASSWORD_FILE"} & set(literal)
    if rendering.name == "production":
        assert secret != user or service != "commissioning"  # the renamed copy is used


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_and_its_migration_reach_postgresql_over_verified_tls(
        rendering: Rendering, service: str) -> None:
    database = rendering.values["config"]["database"]
    client_certificate = database["clientCertSecrets"].get(service)
    job = rendering.one("Job", f"{RELEASE}-{service}-migrate")
    for pod in (deployment_of(rendering, service)["spec"]["template"]["spec"],
                job["spec"]["template"]["spec"]):
        literal, _ = _container_environment(rendering, pod)

        assert literal["DHR_DATABASE_SSLMODE"] == database["sslMode"] == "verify-full"
        if database["caSecret"]:
            assert _mounted_file(pod, literal["DHR_DATABASE_SSLROOTCERT"]) == (
                database["caSecret"], database["caSecretKey"])
        else:  # the system's trusted CAs
            assert "DHR_DATABASE_SSLROOTCERT" not in literal
        if client_certificate:
            assert _mounted_file(pod, literal["DHR_DATABASE_SSLCERT"]) == (client_certificate, "tls.crt")
            assert _mounted_file(pod, literal["DHR_DATABASE_SSLKEY"]) == (client_certificate, "tls.key")
        else:
            assert "DHR_DATABASE_SSLCERT" not in literal
    if rendering.name == "production" and service == "oversight":
        assert client_certificate


def test_without_strimzi_or_database_tls_the_services_connect_as_configured(helm: str) -> None:
    documents = render(helm, *MINIMAL, "--set", "strimzi.enabled=false",
                       "--set", "config.database.sslMode=")
    plain = next(doc for doc in documents if doc["kind"] == "ConfigMap"
                 and doc["metadata"]["name"] == f"{RELEASE}-panel")["data"]
    documents = render(helm, *MINIMAL, "--set", "strimzi.enabled=false",
                       "--set", "config.kafka.securityProtocol=SASL_SSL",
                       "--set", "config.kafka.users.panel.secret=panel-kafka",
                       "--set", "config.kafka.users.panel.username=panel")
    sasl = next(doc for doc in documents if doc["kind"] == "ConfigMap"
                and doc["metadata"]["name"] == f"{RELEASE}-panel")["data"]
    pod = next(doc for doc in documents if doc["kind"] == "Deployment"
               and doc["metadata"]["name"] == f"{RELEASE}-panel")["spec"]["template"]["spec"]

    assert plain["DHR_KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"
    assert not [name for name in plain if name.startswith(("DHR_KAFKA_S", "DHR_DATABASE_SSL"))
                and name != "DHR_KAFKA_SECURITY_PROTOCOL"]
    assert (sasl["DHR_KAFKA_SECURITY_PROTOCOL"], sasl["DHR_KAFKA_SASL_USERNAME"]) == ("SASL_SSL", "panel")
    assert "DHR_KAFKA_SSL_CAFILE" not in sasl  # no Strimzi cluster CA: the system's trusted CAs
    assert _mounted_file(pod, sasl["DHR_KAFKA_SASL_PASSWORD_FILE"]) == ("panel-kafka", "password")


def test_images_come_from_the_configured_registry_with_pull_secrets(rendering: Rendering) -> None:
    values = rendering.values
    registry = values["global"]["imageRegistry"] or values["image"]["registry"]
    tag = values["image"]["tag"] or yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    prefix = f"{registry}/" if registry else ""

    for name, pod in pod_specs(rendering.documents).items():
        service = next(s for s in SERVICES if f"{RELEASE}-{s}" in name)
        assert pod["containers"][0]["image"] == f"{prefix}{values['image']['repository']}/{service}:{tag}"
        assert pod.get("imagePullSecrets", []) == values["global"]["imagePullSecrets"]
    if rendering.name == "production":
        assert prefix == "registry.example.org/" and pod["imagePullSecrets"] != []


@pytest.mark.parametrize("service", SERVICES)
def test_autoscaling_replaces_the_fixed_replica_count(rendering: Rendering, service: str) -> None:
    settings = service_values(rendering.values, service)
    deployment = deployment_of(rendering, service)
    autoscalers = [hpa for hpa in rendering.of_kind("HorizontalPodAutoscaler")
                   if hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]]

    if settings["autoscaling"]["enabled"]:
        (hpa,) = autoscalers
        assert "replicas" not in deployment["spec"]
        assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert hpa["spec"]["minReplicas"] == settings["autoscaling"]["minReplicas"]
        assert hpa["spec"]["maxReplicas"] == settings["autoscaling"]["maxReplicas"]
    else:
        assert autoscalers == []
        assert deployment["spec"]["replicas"] == settings["replicas"]
    (budget,) = [pdb for pdb in rendering.of_kind("PodDisruptionBudget")
                 if pdb["metadata"]["name"] == deployment["metadata"]["name"]]
    assert budget["spec"]["selector"] == deployment["spec"]["selector"]
    assert budget["spec"]["maxUnavailable"] == 1


def test_the_servicemonitor_scrapes_every_service_when_enabled(rendering: Rendering) -> None:
    monitors = rendering.of_kind("ServiceMonitor")
    if not rendering.values["serviceMonitor"]["enabled"]:
        assert monitors == []
        return
    (monitor,) = monitors
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = rendering.of_kind("Service")

    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert rendering.values["serviceMonitor"]["labels"].items() <= monitor["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert {s["metadata"]["name"] for s in services if selector.items() <= s["metadata"]["labels"].items()} \
        == {f"{RELEASE}-{service}" for service in SERVICES}
    for endpoint in monitor["spec"]["endpoints"]:
        assert all(endpoint["port"] in {p["name"] for p in s["spec"]["ports"]} for s in services)
        assert endpoint["path"] == rendering.values["serviceMonitor"]["path"]


# --- network policy ----------------------------------------------------------------------------

def _selects(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    return policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()


def _pod_labels(rendering: Rendering) -> dict[str, dict[str, str]]:
    return {f"{doc['kind']}/{doc['metadata']['name']}": doc["spec"]["template"]["metadata"]["labels"]
            for doc in rendering.documents if doc["kind"] in {"Deployment", "Job"}}


def test_everything_is_denied_but_what_a_policy_allows(rendering: Rendering) -> None:
    policies = rendering.of_kind("NetworkPolicy")
    deny = rendering.one("NetworkPolicy", f"{RELEASE}-default-deny")

    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    for name, labels in _pod_labels(rendering).items():
        assert _selects(deny, labels), f"{name} escapes the default deny"
        own = [p for p in policies if p is not deny and _selects(p, labels)]
        assert len(own) == 1, f"{name} should have one policy of its own"
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            assert rule.get("from"), f"{policy['metadata']['name']}: an ingress rule open to all"
            assert rule.get("ports"), f"{policy['metadata']['name']}: an ingress rule on all ports"
        for rule in policy["spec"].get("egress", []):
            assert rule.get("to"), f"{policy['metadata']['name']}: an egress rule open to all"
            assert rule.get("ports"), f"{policy['metadata']['name']}: an egress rule on all ports"
            for peer in rule["to"]:
                assert peer.get("ipBlock", {}).get("cidr") not in {"0.0.0.0/0", "::/0"}


def _egress_ports(policy: dict[str, Any]) -> set[tuple[int, str]]:
    return {(port["port"], port["protocol"]) for rule in policy["spec"].get("egress", [])
            for port in rule["ports"]}


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_reaches_only_dns_kafka_postgresql_and_what_is_configured(
        rendering: Rendering, service: str) -> None:
    policy = rendering.one("NetworkPolicy", f"{RELEASE}-{service}")
    network = rendering.values["networkPolicy"]
    port = service_values(rendering.values, service)["port"]
    expected = {(p["port"], p["protocol"]) for rule in ("dns", "kafka", "postgresql")
                for p in network[rule]["ports"]}
    if network["identityProvider"]["to"]:
        expected |= {(p["port"], p["protocol"]) for p in network["identityProvider"]["ports"]}
    if rendering.values["telemetry"]["otlpEndpoint"]:
        expected |= {(p["port"], p["protocol"]) for p in network["otelCollector"]["ports"]}
    if service == "oversight":  # `dhr import-dhrd` calls commissioning's API
        expected |= {(service_values(rendering.values, "commissioning")["port"], "TCP")}
    if service == "integration" and network["webhooks"]["to"]:  # agencies' receivers
        expected |= {(p["port"], p["protocol"]) for p in network["webhooks"]["ports"]}

    assert _egress_ports(policy) == expected
    assert {(53, "UDP"), (53, "TCP"), (5432, "TCP")} <= expected
    for rule in policy["spec"].get("ingress", []):
        assert rule["ports"] == [{"port": port, "protocol": "TCP"}]
    ingress_peers = [peer for rule in policy["spec"].get("ingress", []) for peer in rule["from"]]
    for peer in network["ingressFrom"]:
        assert peer in ingress_peers
    if rendering.name == "production":
        assert {"ipBlock": {"cidr": "203.0.113.10/32"}} in [
            peer for rule in policy["spec"]["egress"] for peer in rule["to"]]


def test_the_migration_jobs_reach_only_dns_and_postgresql(rendering: Rendering) -> None:
    policy = rendering.one("NetworkPolicy", f"{RELEASE}-migrations")
    network = rendering.values["networkPolicy"]

    assert "ingress" not in policy["spec"]
    assert _egress_ports(policy) == {(p["port"], p["protocol"])
                                     for rule in ("dns", "postgresql") for p in network[rule]["ports"]}


# --- migrations --------------------------------------------------------------------------------

def _hook(doc: dict[str, Any]) -> tuple[set[str], int]:
    annotations = doc["metadata"].get("annotations", {})
    hooks = set(annotations.get("helm.sh/hook", "").split(",")) - {""}
    return hooks, int(annotations.get("helm.sh/hook-weight", 0))


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_run_before_every_install_and_upgrade(rendering: Rendering, service: str) -> None:
    job = rendering.one("Job", f"{RELEASE}-{service}-migrate")
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    hooks, weight = _hook(job)
    deployment = deployment_of(rendering, service)

    assert hooks == {"pre-install", "pre-upgrade"}
    assert container["args"] == ["migrate"]
    assert container["image"] == deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert pod["restartPolicy"] == "Never"
    # A pre-install hook runs before the chart's ConfigMaps, Secret and ServiceAccount exist.
    assert "envFrom" not in container and "serviceAccountName" not in pod
    names = {variable["name"] for variable in container["env"]}
    assert names <= setting_variables(service) and "DHR_KAFKA_BOOTSTRAP" not in names
    (url,) = [v for v in container["env"] if v["name"] == "DHR_DATABASE_URL"]
    secret_name = url["valueFrom"]["secretKeyRef"]["name"]
    assert url["valueFrom"]["secretKeyRef"]["key"] == f"{service}-database-url"
    if rendering.values["secrets"]["existingSecret"]:
        assert secret_name == rendering.values["secrets"]["existingSecret"]
    else:
        secret = rendering.one("Secret", secret_name)
        secret_hooks, secret_weight = _hook(secret)
        assert secret_hooks == hooks and secret_weight < weight
        assert f"{service}-database-url" in secret["stringData"]


def test_a_disabled_service_leaves_no_workload_behind(helm: str) -> None:
    documents = render(helm, *MINIMAL, "--set", "services.learning.enabled=false")
    names = {(doc["kind"], doc["metadata"]["name"]) for doc in documents}

    assert not [name for name in names if "learning" in name[1] and name[0] != "KafkaTopic"]
    assert ("KafkaTopic", "dhr.learning.events.v1") in names  # oversight still reads it
    assert ("Deployment", f"{RELEASE}-panel") in names


# --- values ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("setting", "unknown"), [
    ("bogus=1", "'bogus'"),
    ("services.panel.replicaz=3", "'replicaz'"),
    ("networkPolicy.dns.too=x", "'too'"),
    ("serviceDefaults.resources.limits.gpu=1", "'gpu'"),
])
def test_the_values_schema_rejects_an_unknown_key(helm: str, setting: str, unknown: str) -> None:
    rendered = run_helm(helm, "template", RELEASE, str(CHART), "--kube-version", MINIMUM_KUBERNETES,
                        *MINIMAL, "--set", setting)

    assert rendered.returncode != 0
    assert "additional properties" in rendered.stderr and unknown in rendered.stderr


def test_the_values_schema_closes_every_object() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    open_objects = []

    def visit(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "additionalProperties" not in node:
                open_objects.append(path)
            for key, value in node.items():
                visit(value, f"{path}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                visit(value, f"{path}/{index}")

    visit(schema, "#")
    # The inner terms of an Affinity are Kubernetes' own (checked on the rendered manifests).
    assert [path for path in open_objects if "/affinity/" not in path] == []


def test_an_install_without_the_identity_provider_is_refused_naming_the_value(helm: str) -> None:
    rendered = run_helm(helm, "template", RELEASE, str(CHART), "--kube-version", MINIMUM_KUBERNETES)

    assert rendered.returncode != 0 and "config.auth.issuer is required" in rendered.stderr


def test_the_services_get_the_identity_provider_of_the_values(rendering: Rendering) -> None:
    auth = rendering.values["config"]["auth"]
    for config_map in rendering.of_kind("ConfigMap"):
        data = config_map["data"]
        assert (data["DHR_AUTH_ISSUER"], data["DHR_AUTH_AUDIENCE"], data["DHR_AUTH_JWKS_URL"]) == (
            auth["issuer"], auth["audience"], auth["jwksUrl"])


def test_a_min_insync_replicas_above_the_replicas_is_refused(helm: str) -> None:
    rendered = run_helm(helm, "template", RELEASE, str(CHART), "--kube-version", MINIMUM_KUBERNETES,
                        *MINIMAL, "--set", "strimzi.topics.minInsyncReplicas=4")

    assert rendered.returncode != 0 and "minInsyncReplicas" in rendered.stderr
