"""Fixtures for reliability tests: child processes that are killed, and a database on a server
that the test may restart."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from reliability_support import ChildProcess, Launch

from dhr_local.postgres import LocalPostgres, create_database, drop_database


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """Start a helper script in a child process; whatever still runs at the end is killed."""
    started: list[ChildProcess] = []

    def start(script: Path, arguments: Iterable[str]) -> ChildProcess:
        child = ChildProcess(script, arguments, tmp_path / f"{script.stem}-{len(started) + 1}.log")
        started.append(child)
        return child

    yield start
    for child in started:
        child.kill()


@pytest.fixture
def restartable_database(local_postgres: LocalPostgres) -> Iterator[str]:
    """URL of a new database on the server of `local_postgres`, which the test may restart."""
    name = f"reliability_{uuid.uuid4().hex[:12]}"
    url = create_database(local_postgres.server_url, name)
    yield url
    if not local_postgres.is_running():
        local_postgres.start()
    drop_database(local_postgres.server_url, name)
