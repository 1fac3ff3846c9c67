"""The Dockerfile and .dockerignore: one slim, non-root image per service, built from the frozen
lock. No Docker engine here, so the build's own uv commands are run on the build context the
.dockerignore lets through, and the result is inspected."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from deploy_support import (
    REPOSITORY,
    SERVICES,
    Dockerfile,
    default_port,
    dockerignore_filter,
    read_dockerfile,
    working_tree_files,
)

pytestmark = pytest.mark.deploy

DOCKERFILE = REPOSITORY / "Dockerfile"


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return read_dockerfile(DOCKERFILE)


def test_every_workspace_member_manifest_is_in_the_build_stage(dockerfile: Dockerfile) -> None:
    members = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]["members"]
    copied = {source for arguments in dockerfile.stages["build"].all("COPY")
              for source in shlex.split(arguments)[:-1]}

    # uv resolves the workspace from every member's pyproject.toml, even with --package.
    assert copied == {"pyproject.toml", "uv.lock", *(f"{member}/pyproject.toml" for member in members)}


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_a_target_built_from_the_frozen_lock_without_dev_tools(
        dockerfile: Dockerfile, service: str) -> None:
    build = dockerfile.stages[f"build-{service}"]
    runs = [" ".join(word for word in shlex.split(run) if not word.startswith("--mount="))
            for run in build.all("RUN")]

    assert runs == [
        f"uv sync --frozen --no-dev --no-editable --no-install-workspace --package dhr-{service}",
        f"uv sync --frozen --no-dev --no-editable --package dhr-{service}",
    ]
    target = dockerfile.stages[service]
    assert target.base == "runtime"
    assert target.all("COPY") == [f"--from=build-{service} /app/.venv /app/.venv"]
    assert target.all("ENTRYPOINT") == [f'["dhr-{service}"]']
    assert target.all("CMD") == ['["serve"]']
    assert target.all("EXPOSE") == [str(default_port(service))]
    assert f"DHR_HTTP_PORT={default_port(service)}" in " ".join(target.all("ENV"))


def test_the_runtime_is_slim_python_311_without_pip_run_as_a_non_root_user(
        dockerfile: Dockerfile) -> None:
    runtime = dockerfile.stages["runtime"]

    assert dockerfile.base_image("runtime").startswith("python:3.11-slim")
    # The venv's interpreter path must exist at run time: the same image builds and runs.
    assert dockerfile.base_image("build") == dockerfile.base_image("runtime")
    assert "pip uninstall --yes" in " ".join(runtime.all("RUN"))
    (user,) = runtime.all("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    (healthcheck,) = runtime.all("HEALTHCHECK")
    assert "/healthz" in healthcheck and "DHR_HTTP_PORT" in healthcheck
    for service in SERVICES:
        # Nothing of the build stages but the venv reaches a service's image.
        assert dockerfile.stages[service].all("RUN") == []


def test_the_dockerignore_lets_through_only_what_the_build_needs() -> None:
    included = dockerignore_filter(REPOSITORY / ".dockerignore")

    for needed in ("pyproject.toml", "uv.lock", "contracts/pyproject.toml",
                   "contracts/src/dhr_contracts/topics.py", "deploy/local/pyproject.toml",
                   "services/platform/src/dhr_platform/migrations/0001_event_store.sql",
                   "services/oversight/pyproject.toml"):
        assert included(needed), needed
    for kept_out in (".git/HEAD", ".venv/bin/python", ".local/kafka/server.log", "tests/conftest.py",
                     "docs/operations.md", "deploy/local/src/dhr_local/run.py",
                     "deploy/helm/dhr/values.yaml", "docker-compose.yml",
                     "services/panel/src/dhr_panel/__pycache__/api.cpython-311.pyc",
                     "services/panel/.mypy_cache/x.json"):
        assert not included(kept_out), kept_out


def _copy(context: list[str], arguments: str, root: Path) -> None:
    """COPY as Docker does it, from a build context of files into the stage's WORKDIR `root`: a
    file into a directory when the destination ends with /, a directory's content into the
    destination."""
    *sources, destination = shlex.split(arguments)
    for source in sources:
        assert not source.startswith("--"), f"COPY {arguments}: flags are not emulated"
        files = [name for name in context if name == source or name.startswith(source.rstrip("/") + "/")]
        assert files, f"COPY {source}: not in the build context (see .dockerignore)"
        for name in files:
            if name == source:
                target = root / destination / Path(name).name if destination.endswith("/") \
                    else root / destination
            else:
                target = root / destination / Path(name).relative_to(source.rstrip("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPOSITORY / name, target)


def _run(command: str, cwd: Path, environment: dict[str, str]) -> None:
    words = [word for word in shlex.split(command) if not word.startswith("--mount=")]
    completed = subprocess.run(words, cwd=cwd, env=environment, capture_output=True, text=True,
                               check=False, timeout=600)
    assert completed.returncode == 0, f"{' '.join(words)} failed:\n{completed.stderr[-3000:]}"


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_build_steps_install_the_service_alone_not_editable(
        dockerfile: Dockerfile, service: str, tmp_path: Path) -> None:
    included = dockerignore_filter(REPOSITORY / ".dockerignore")
    context = [name for name in working_tree_files() if included(name)]
    source_root, venv = tmp_path / "src", tmp_path / "venv"
    environment = {**os.environ, "UV_NO_PROGRESS": "1"}
    for setting in " ".join(dockerfile.stages["build"].all("ENV")).split():
        name, _, value = setting.partition("=")
        environment[name] = value
    # Here, not /usr/local/bin/python3.11 and /app/.venv of the image.
    environment.update(UV_PYTHON=sys.executable, UV_PROJECT_ENVIRONMENT=str(venv))
    for variable in [name for name in environment if name.startswith("VIRTUAL_ENV")]:
        del environment[variable]
    source_root.mkdir()

    # The build stage's manifests, the dependency layer, then the sources and the service.
    for arguments in dockerfile.stages["build"].all("COPY"):
        _copy(context, arguments, source_root)
    first_install, second_install = dockerfile.stages[f"build-{service}"].all("RUN")
    _run(first_install, source_root, environment)
    for arguments in dockerfile.stages["sources"].all("COPY"):
        _copy(context, arguments, source_root)
    _run(second_install, source_root, environment)

    site_packages = next(venv.glob("lib/python3*/site-packages"))
    installed = {path.name for path in site_packages.iterdir()}
    assert f"dhr_{service}" in installed and "dhr_platform" in installed
    others = {f"dhr_{other}" for other in SERVICES if other != service} | {"dhr_local"}
    assert not installed & others, "another service's code is in the image"
    assert not {"pytest", "ruff", "mypy", "_pytest"} & installed, "development tools are in the image"
    assert not [name for name in installed if name.endswith(".pth") and "dhr" in name], \
        "the workspace packages are installed editable"
    # The migrations (SQL files, not Python) are inside the installed packages.
    for package in ("platform", service):
        shipped = sorted(p.name for p in (site_packages / f"dhr_{package}" / "migrations").glob("*.sql"))
        in_repository = sorted(p.name for p in (REPOSITORY / "services" / package / "src" /
                                                f"dhr_{package}" / "migrations").glob("*.sql"))
        assert shipped == in_repository != []
    command = subprocess.run([venv / "bin" / f"dhr-{service}", "--help"], capture_output=True,
                             text=True, check=True, timeout=120, env=environment)
    assert "migrate" in command.stdout
