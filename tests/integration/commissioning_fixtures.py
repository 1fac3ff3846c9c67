"""A running commissioning service (real PostgreSQL, real Kafka) for integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from dhr_commissioning.__main__ import build_app, build_runtime
from dhr_commissioning.config import CommissioningSettings
from dhr_platform.service import ServiceRuntime

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def notification(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "notifying_agency": "Norfolk Constabulary",
        "date_of_death": "2026-02-10",
        "csp_learned_on": "2026-02-12",
        "csp_area": "Norfolk",
        "victim_age": 34,
        "suspect_relationship": "current_intimate_partner",
        "circumstances": "homicide",
        "prior_agency_contact": "yes",
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


@dataclass
class RunningService:
    client: httpx.AsyncClient
    runtime: ServiceRuntime

    async def event_count(self) -> int:
        return await self.runtime.store.count()


@pytest.fixture
async def commissioning(fresh_database: str, kafka_bootstrap: str) -> AsyncIterator[RunningService]:
    settings = CommissioningSettings(database_url=fresh_database, kafka_bootstrap=kafka_bootstrap,
                                     environment="test", consumer_initial_backoff_seconds=0.01,
                                     consumer_max_attempts=2)
    runtime = build_runtime(settings, clock=lambda: NOW)
    app = build_app(settings, clock=lambda: NOW, runtime=runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://commissioning") as client:
            yield RunningService(client, runtime)
