"""`dhr-<service> migrate`, what the chart's migration Jobs run: each service's migrations
applied to the real database, with nothing but DHR_ENVIRONMENT and DHR_DATABASE_URL (no Kafka,
no signing key), and nothing applied twice."""

from __future__ import annotations

import asyncio
import importlib
import os
from pathlib import Path

import asyncpg
import pytest
from deploy_support import REPOSITORY, SERVICES

pytestmark = [pytest.mark.deploy, pytest.mark.integration]


def migration_files(service: str) -> set[str]:
    return {path.name for path in
            (REPOSITORY / "services" / service / "src" / f"dhr_{service}" / "migrations").glob("*.sql")}


async def applied_migrations(url: str, schema: str) -> set[tuple[str, str]]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(f'SELECT source, name FROM "{schema}".schema_migrations')
    finally:
        await connection.close()
    return {(row["source"], row["name"]) for row in rows}


async def test_each_service_migrates_with_only_the_database_url_in_production(
        fresh_database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("DHR_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DHR_ENVIRONMENT", "production")
    monkeypatch.setenv("DHR_DATABASE_URL", fresh_database)
    monkeypatch.chdir(tmp_path)  # where a development key would be written: nothing must be

    for service in SERVICES:
        main = importlib.import_module(f"dhr_{service}.__main__").main
        await asyncio.to_thread(main, ["migrate"])
        first = capsys.readouterr().out
        await asyncio.to_thread(main, ["migrate"])
        second = capsys.readouterr().out

        expected = {("platform", name) for name in migration_files("platform")} | {
            (service, name) for name in migration_files(service)}
        assert await applied_migrations(fresh_database, service) == expected
        assert first.startswith(f"{service}: applied ") and all(name in first for _, name in expected)
        assert second == f"{service}: nothing to apply\n"
    assert await asyncio.to_thread(lambda: list(tmp_path.iterdir())) == []
