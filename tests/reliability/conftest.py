"""Fixtures for reliability tests: child processes that are killed, a database on a server of
the test's own that it may restart, and a broker of its own emptied of every topic."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest
from reliability_support import ChildProcess, Launch, delete_every_topic
from system_support import Credentials

from dhr_local.kafka import LocalKafka
from dhr_local.postgres import LocalPostgres, create_database, drop_database
from support.tokens import REVIEW_MANAGER_NORFOLK, TestIssuer


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """Start a helper script in a child process; whatever still runs at the end is killed."""
    started: list[ChildProcess] = []

    def start(script: Path, arguments: Iterable[str],
              environment: Mapping[str, str] | None = None) -> ChildProcess:
        name = script.parent.name if script.stem == "__main__" else script.stem
        child = ChildProcess(script, arguments, tmp_path / f"{name}-{len(started) + 1}.log",
                             environment)
        started.append(child)
        return child

    yield start
    for child in started:
        child.kill()


@pytest.fixture
def private_database(private_postgres: LocalPostgres) -> Iterator[str]:
    """URL of a new database on a server of the test's own, which the test may stop or restart."""
    if not private_postgres.is_running():
        private_postgres.start()
    name = f"reliability_{uuid.uuid4().hex[:12]}"
    url = create_database(private_postgres.server_url, name)
    yield url
    if not private_postgres.is_running():
        private_postgres.start()
    drop_database(private_postgres.server_url, name)


@pytest.fixture
async def empty_private_kafka(private_kafka: LocalKafka) -> LocalKafka:
    """The private broker, running, with no topic (and so no committed offset) left by an earlier
    test: the services' fixed topic and group names start from nothing."""
    if not private_kafka.is_running():
        await asyncio.to_thread(private_kafka.start)
    await asyncio.to_thread(private_kafka.wait_ready, 120)
    await delete_every_topic(private_kafka.bootstrap)
    return private_kafka


@pytest.fixture
def credentials(token_issuer: TestIssuer) -> Credentials:
    """What the services under test trust (a test issuer) and every request sends (a Norfolk
    review manager's bearer token: every review of these tests is in Norfolk)."""
    return Credentials(token_issuer.settings(), token_issuer.headers(REVIEW_MANAGER_NORFOLK))
