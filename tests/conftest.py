"""Session infrastructure: a real Kafka broker and a real PostgreSQL server.

Given by DHR_KAFKA_BOOTSTRAP / DHR_DATABASE_URL, or else started on free ports in a temporary
directory the first time a test asks for them, and stopped when the session ends. A run of
`pytest tests/unit` asks for neither and starts nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from dhr_local.kafka import LocalKafka
from dhr_local.postgres import LocalPostgres, create_database, drop_database
from dhr_local.process import free_port
from support.tokens import TestIssuer

# The ports of `make run` (dhr-local up); a test session must not take them from a running system.
_RESERVED_PORTS = frozenset({9092, 9093, 55432})
_INTEGRATION_DIRECTORIES = {"integration", "reliability", "e2e"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/integration, tests/reliability and tests/e2e `integration`
    (and those under tests/reliability `reliability` too), so `-m "not integration"` runs fast.
    Leave `soak` tests out (deselected, not skipped) unless the marker expression names them
    (`make soak`): they are the full-size runs of tests that `make test` runs smaller."""
    tests_root = Path(__file__).parent
    if "soak" not in (config.option.markexpr or ""):
        soak = [item for item in items if item.get_closest_marker("soak")]
        if soak:
            config.hook.pytest_deselected(items=soak)
            items[:] = [item for item in items if not item.get_closest_marker("soak")]
    for item in items:
        try:
            directory = item.path.relative_to(tests_root).parts[0]
        except ValueError:
            continue
        if directory in _INTEGRATION_DIRECTORIES:
            item.add_marker(pytest.mark.integration)
        if directory == "reliability":
            item.add_marker(pytest.mark.reliability)


@pytest.fixture(scope="session")
def infrastructure_state_dir() -> Iterator[Path]:
    """A fresh directory for the session's broker and database, removed at the end."""
    # Not tmp_path_factory: its root is private to the current user, and when we run as root
    # PostgreSQL runs as the postgres user, who must be able to reach its data directory.
    directory = Path(tempfile.mkdtemp(prefix="dhr-test-infrastructure-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def local_kafka(infrastructure_state_dir: Path) -> Iterator[LocalKafka]:
    """A broker this session owns: without DHR_KAFKA_BOOTSTRAP the session's broker
    (`kafka_bootstrap` names it); with it, one on free ports. Tests that stop a broker stop
    `private_kafka`, never this one, which other tests share."""
    port = free_port(avoid=_RESERVED_PORTS)
    controller_port = free_port(avoid=_RESERVED_PORTS | {port})
    kafka = LocalKafka(infrastructure_state_dir / "kafka", port=port, controller_port=controller_port)
    try:
        kafka.start()
        kafka.wait_ready(timeout=180)
        yield kafka
    finally:
        kafka.stop()


@pytest.fixture(scope="session")
def local_postgres(infrastructure_state_dir: Path) -> Iterator[LocalPostgres]:
    """A PostgreSQL server this session owns: without DHR_DATABASE_URL the session's server
    (`database_url` is on it); with it, one on a free port. Tests that stop a server stop
    `private_postgres`, never this one, which other tests share."""
    postgres = LocalPostgres(
        infrastructure_state_dir / "postgres", port=free_port(avoid=_RESERVED_PORTS), fast=True
    )
    try:
        postgres.start()
        yield postgres
    finally:
        postgres.stop()


@pytest.fixture(scope="session")
def private_kafka(infrastructure_state_dir: Path) -> Iterator[LocalKafka]:
    """A broker of its own, never the session's, whatever DHR_KAFKA_BOOTSTRAP says: for tests
    that stop it, and for tests of the services, whose topic and group names are fixed, that must
    not share them with other tests. Such a test starts from `empty_private_kafka`."""
    kafka = _start_private_kafka(infrastructure_state_dir)
    try:
        yield kafka
    finally:
        kafka.stop()


def _start_private_kafka(state_dir: Path, attempts: int = 2) -> LocalKafka:
    """On a busy machine a free port can be taken before the broker binds it: then once more,
    on other ports, with the first attempt's errors in a warning."""
    for attempt in range(1, attempts + 1):
        port = free_port(avoid=_RESERVED_PORTS)
        controller_port = free_port(avoid=_RESERVED_PORTS | {port})
        kafka = LocalKafka(state_dir / f"private-kafka-{attempt}", port=port,
                           controller_port=controller_port)
        try:
            kafka.start()
            kafka.wait_ready(timeout=180)
            return kafka
        except RuntimeError:  # dhr_local's InfrastructureError
            kafka.stop()
            if attempt == attempts:
                raise
            errors = [line for line in kafka.server_log.read_text(errors="replace").splitlines()
                      if "ERROR" in line or "Exception" in line]
            warnings.warn(f"the private Kafka broker did not start on port {port}; trying other "
                          f"ports. Its errors: {errors[-10:]}", stacklevel=1)
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def private_postgres(infrastructure_state_dir: Path) -> Iterator[LocalPostgres]:
    """A PostgreSQL server of its own, never the session's, for tests that stop or restart it."""
    postgres = LocalPostgres(infrastructure_state_dir / "private-postgres",
                             port=free_port(avoid=_RESERVED_PORTS), fast=True)
    try:
        postgres.start()
        yield postgres
    finally:
        postgres.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> str:
    """host:port of a real Kafka broker: DHR_KAFKA_BOOTSTRAP, or the session's own."""
    external = os.environ.get("DHR_KAFKA_BOOTSTRAP")
    if external:
        return external
    kafka: LocalKafka = request.getfixturevalue("local_kafka")
    return kafka.bootstrap


@pytest.fixture(scope="session")
def database_url(request: pytest.FixtureRequest) -> str:
    """URL of a real PostgreSQL database: DHR_DATABASE_URL, or `dhr` on the session's own server."""
    external = os.environ.get("DHR_DATABASE_URL")
    if external:
        return external
    postgres: LocalPostgres = request.getfixturevalue("local_postgres")
    return postgres.url


@pytest.fixture
def fresh_database(database_url: str) -> Iterator[str]:
    """URL of a new, empty database on the same server, dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    url = create_database(database_url, name)
    yield url
    drop_database(database_url, name)


@pytest.fixture(scope="session")
def token_issuer(tmp_path_factory: pytest.TempPathFactory) -> TestIssuer:
    """The session's token issuer: services under test trust it (`token_issuer.settings()`)
    and tests send its tokens (`token_issuer.headers(...)`)."""
    return TestIssuer(tmp_path_factory.mktemp("token-issuer"))
