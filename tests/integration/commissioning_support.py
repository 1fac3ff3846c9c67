"""Helpers for tests of the commissioning service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from dhr_platform.service import ServiceRuntime
from support.tokens import TestIssuer

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
    tokens: TestIssuer

    async def event_count(self) -> int:
        return await self.runtime.store.count()
