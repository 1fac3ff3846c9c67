"""What the deployment tests share: paths, each service's settings and Kafka use as the code
declares them, a reader of the Dockerfile and .dockerignore, the restricted Pod Security
Standard, and strict schemas from Kubernetes CRDs."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dhr_commissioning.__main__ import build_runtime as build_commissioning
from dhr_commissioning.config import CommissioningSettings
from dhr_contracts.topics import dead_letter_topic
from dhr_integration.__main__ import build_runtime as build_integration
from dhr_integration.config import IntegrationSettings
from dhr_learning.__main__ import build_runtime as build_learning
from dhr_learning.config import LearningSettings
from dhr_oversight.__main__ import build_runtime as build_oversight
from dhr_oversight.config import OversightSettings
from dhr_oversight.keys import generate_seed, keys_from_seeds
from dhr_panel.__main__ import build_runtime as build_panel
from dhr_panel.config import PanelSettings
from dhr_platform.service import ServiceSpec
from dhr_platform.settings import PlatformSettings
from dhr_recommendations.__main__ import build_runtime as build_recommendations
from dhr_recommendations.config import RecommendationsSettings

REPOSITORY = Path(__file__).resolve().parents[2]
SERVICES = ("commissioning", "panel", "learning", "recommendations", "oversight", "integration")

SETTINGS: dict[str, type[PlatformSettings]] = {
    "commissioning": CommissioningSettings,
    "panel": PanelSettings,
    "learning": LearningSettings,
    "recommendations": RecommendationsSettings,
    "oversight": OversightSettings,
    "integration": IntegrationSettings,
}


def setting_variables(service: str) -> set[str]:
    """The DHR_* environment variables the service's settings read."""
    settings = SETTINGS[service]
    prefix = settings.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in settings.model_fields}


def required_variables(service: str) -> set[str]:
    """The DHR_* variables the service cannot start without (settings without a default)."""
    settings = SETTINGS[service]
    prefix = settings.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name, field in settings.model_fields.items()
            if field.is_required()}


def default_port(service: str) -> int:
    port = SETTINGS[service].model_fields["http_port"].default
    assert isinstance(port, int)
    return port


def service_spec(service: str) -> ServiceSpec:
    """The service's spec as its composition root builds it with the default settings (no I/O)."""
    settings = SETTINGS[service].model_construct()  # defaults only, whatever the environment says
    if service == "oversight":
        assert isinstance(settings, OversightSettings)
        keys = keys_from_seeds(settings.oversight_origin, [generate_seed()], "test")
        return build_oversight(settings, keys=keys).spec
    builders = {"commissioning": build_commissioning, "panel": build_panel,
                "learning": build_learning, "recommendations": build_recommendations,
                "integration": build_integration}
    return builders[service](settings).spec


@dataclass(frozen=True)
class KafkaAccess:
    writes: frozenset[str]
    reads: frozenset[str]
    groups: frozenset[str]
    ensured: frozenset[str]
    """Every topic the service makes sure exists at start (ServiceRuntime.start)."""


def kafka_access(service: str) -> KafkaAccess:
    """What the service does on Kafka: its topic (relay or checkpoints) and the dead letters of
    its subscriptions are written, its subscriptions read, each as its consumer group.

    A service without a relay whose topic is one it reads (integration: it publishes nothing,
    ADR 0011) only names that topic, and writes none but dead letters."""
    spec = service_spec(service)
    dead_letters = {dead_letter_topic(s.topic) for s in spec.subscriptions}
    reads = {s.topic for s in spec.subscriptions}
    publishes = spec.run_relay or spec.topic not in reads
    return KafkaAccess(
        writes=frozenset(({spec.topic} if publishes else set()) | dead_letters),
        reads=frozenset(reads),
        groups=frozenset(s.consumer for s in spec.subscriptions),
        ensured=frozenset({spec.topic, *spec.extra_topics} | dead_letters | reads),
    )


def all_topics() -> set[str]:
    return set().union(*(kafka_access(service).ensured for service in SERVICES))


# --- Dockerfile and .dockerignore ---------------------------------------------------------

@dataclass
class Instruction:
    keyword: str
    arguments: str


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[str]:
        return [i.arguments for i in self.instructions if i.keyword == keyword]


@dataclass
class Dockerfile:
    arguments: dict[str, str]
    """ARG defaults declared before the first FROM."""
    stages: dict[str, Stage]

    def base_image(self, stage: str) -> str:
        """The image a stage starts from, following stages and ARG defaults."""
        base = self.stages[stage].base
        base = re.sub(r"\$\{(\w+)\}", lambda match: self.arguments[match.group(1)], base)
        return self.base_image(base) if base in self.stages else base


def read_dockerfile(path: Path) -> Dockerfile:
    """Instructions per stage, continuation lines joined and comments dropped."""
    logical: list[str] = []
    current = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#") and not current:
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        if current:
            logical.append(current)
        current = ""
    arguments: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    stage: Stage | None = None
    for text in logical:
        keyword, _, rest = text.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest, flags=re.IGNORECASE)
            assert match, f"cannot read FROM {rest}"
            stage = Stage(match.group(2) or str(len(stages)), match.group(1), [])
            stages[stage.name] = stage
        elif stage is None:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            name, _, default = rest.partition("=")
            arguments[name] = default
        else:
            stage.instructions.append(Instruction(keyword, rest))
    return Dockerfile(arguments, stages)


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    regex = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            regex += "(?:.*/)?"
            index += 3
        elif pattern.startswith("**", index):
            regex += ".*"
            index += 2
        elif pattern[index] == "*":
            regex += "[^/]*"
            index += 1
        elif pattern[index] == "?":
            regex += "[^/]"
            index += 1
        else:
            regex += re.escape(pattern[index])
            index += 1
    return re.compile(regex)


def dockerignore_filter(path: Path) -> Any:
    """`included(relative_path)` as Docker decides it: the last pattern that matches the path or
    one of its parent directories wins; `!` patterns let a path back in."""
    rules: list[tuple[bool, re.Pattern[str]]] = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        rules.append((exception, _pattern_regex(pattern)))

    def included(relative: str) -> bool:
        parts = relative.split("/")
        candidates = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
        verdict = True
        for exception, regex in rules:
            if any(regex.fullmatch(candidate) for candidate in candidates):
                verdict = exception
        return verdict

    return included


def working_tree_files() -> list[str]:
    """The files a build context would be made from: tracked and untracked, not git-ignored."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPOSITORY, capture_output=True, check=True,
    ).stdout.decode()
    return sorted(name for name in listing.split("\0") if name and (REPOSITORY / name).is_file())


# --- Kubernetes ------------------------------------------------------------------------------

# The volume types the restricted Pod Security Standard allows.
RESTRICTED_VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                           "persistentVolumeClaim", "projected", "secret"}


def restricted_violations(pod: Mapping[str, Any]) -> list[str]:
    """Where a pod spec breaks the restricted Pod Security Standard (kubernetes.io/docs/concepts/
    security/pod-security-standards, "Restricted"), as Kubernetes' admission checks it."""
    problems = []
    pod_context = pod.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            problems.append(f"{flag} is set")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            problems.append(f"volume {volume['name']} is of type {sorted(kinds)}")
    containers = [*pod.get("initContainers", []), *pod.get("containers", [])]
    for container in containers:
        name = container["name"]
        context = container.get("securityContext", {})
        if context.get("privileged"):
            problems.append(f"{name}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        capabilities = context.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            problems.append(f"{name}: capabilities do not drop ALL")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities {capabilities['add']}")
        if context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is not True:
            problems.append(f"{name}: runAsNonRoot is not true")
        if context.get("runAsUser", pod_context.get("runAsUser")) == 0:
            problems.append(f"{name}: runs as uid 0")
        seccomp = context.get("seccompProfile", pod_context.get("seccompProfile", {}))
        if seccomp.get("type") not in {"RuntimeDefault", "Localhost"}:
            problems.append(f"{name}: seccomp profile is {seccomp.get('type')}")
        for port in container.get("ports", []):
            if port.get("hostPort"):
                problems.append(f"{name}: hostPort {port['hostPort']}")
    return problems


def strict_schema(schema: Any) -> Any:
    """A CRD's openAPIV3Schema that refuses unknown fields, as the API server's strict field
    validation does (`kubectl apply --validate=strict`): every object that lists its properties
    and does not preserve unknown fields gets additionalProperties: false."""
    if isinstance(schema, dict):
        strict = {key: strict_schema(value) for key, value in schema.items()}
        if ("properties" in strict and "additionalProperties" not in strict
                and not strict.get("x-kubernetes-preserve-unknown-fields")):
            strict["additionalProperties"] = False
        return strict
    if isinstance(schema, list):
        return [strict_schema(item) for item in schema]
    return schema


def pod_specs(documents: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """`Kind/name` -> pod spec of every workload in a rendering."""
    return {f"{doc['kind']}/{doc['metadata']['name']}": doc["spec"]["template"]["spec"]
            for doc in documents if doc["kind"] in {"Deployment", "Job", "StatefulSet", "DaemonSet"}}
