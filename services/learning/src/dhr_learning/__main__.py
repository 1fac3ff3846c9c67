"""Composition root of the learning service: `serve` (default), `rebuild` or `migrate`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI

from dhr_contracts.topics import COMMISSIONING_EVENTS, LEARNING_EVENTS, PANEL_EVENTS
from dhr_learning.api import ERROR_STATUSES, LearningApi, build_router
from dhr_learning.config import LearningSettings
from dhr_learning.consumers import (
    FROM_COMMISSIONING,
    FROM_PANEL,
    commissioning_effect,
    panel_effect,
)
from dhr_learning.projections import LearningProjection
from dhr_platform.app import create_service_app, run_service
from dhr_platform.database import MigrationSource
from dhr_platform.service import ServiceRuntime, ServiceSpec, Subscription

MIGRATIONS = MigrationSource("learning", Path(__file__).parent / "migrations")


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_runtime(settings: LearningSettings) -> ServiceRuntime:
    spec = ServiceSpec(
        name="learning",
        topic=LEARNING_EVENTS,
        migrations=[MIGRATIONS],
        projections=[LearningProjection()],
        subscriptions=[
            Subscription(COMMISSIONING_EVENTS, FROM_COMMISSIONING,
                         lambda runtime: commissioning_effect()),
            Subscription(PANEL_EVENTS, FROM_PANEL, lambda runtime: panel_effect()),
        ],
    )
    return ServiceRuntime(spec, settings)


def build_app(settings: LearningSettings, clock: Callable[[], datetime] = utc_now,
              runtime: ServiceRuntime | None = None) -> FastAPI:
    """The service's HTTP app; starting it (its lifespan) starts the whole runtime."""
    runtime = runtime or build_runtime(settings)

    return create_service_app(
        runtime,
        title="DHR learning service",
        description="Blame-free learning events (ground rules acknowledged by every agency), "
        "contributions attributed to agencies never to people, learning points with the Home "
        "Office recommendation themes, their dissemination, and queries across reviews.",
        routers=[build_router(LearningApi(runtime, clock))],
        error_statuses=ERROR_STATUSES,
    )


def main(argv: list[str] | None = None) -> None:
    settings = LearningSettings()
    run_service(argv, settings=settings, runtime=build_runtime(settings),
                build_app=lambda runtime: build_app(settings, runtime=runtime))


if __name__ == "__main__":
    main()
