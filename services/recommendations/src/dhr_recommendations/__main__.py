"""Composition root of the recommendations service: `serve` (default), `rebuild` or `migrate`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI

from dhr_contracts.topics import COMMISSIONING_EVENTS, PANEL_EVENTS, RECOMMENDATIONS_EVENTS
from dhr_platform.app import create_service_app, run_service
from dhr_platform.database import MigrationSource
from dhr_platform.eventstore import InlineProjection
from dhr_platform.service import ServiceRuntime, ServiceSpec, Subscription, every
from dhr_recommendations.api import (
    ERROR_STATUSES,
    RecommendationsApi,
    build_router,
    run_deadline_checks,
)
from dhr_recommendations.config import RecommendationsSettings
from dhr_recommendations.consumers import (
    FROM_COMMISSIONING,
    FROM_PANEL,
    commissioning_effect,
    panel_effect,
)
from dhr_recommendations.projections import RecommendationsProjection

# --- the national library (library.py, library_api.py, migration 0002) ---------------------
from dhr_recommendations.library import (  # isort: skip
    DEFAULT_SIMILARITY_THRESHOLD,
    LibraryIndex,
    LibraryProjection,
)
from dhr_recommendations.library_api import build_library_router  # isort: skip
# ---------------------------------------------------------------------------------------------

# One schema, `recommendations`: 0001 the recommendations and action plans, 0002 the library.
MIGRATIONS = MigrationSource("recommendations", Path(__file__).parent / "migrations")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def projections(similarity_threshold: float = DEFAULT_SIMILARITY_THRESHOLD,
                index: LibraryIndex | None = None) -> list[InlineProjection]:
    # Order matters: the library links a new recommendation using the row that
    # RecommendationsProjection has just written in the same transaction.
    return [RecommendationsProjection(),
            LibraryProjection(similarity_threshold=similarity_threshold, index=index)]


def library_index(runtime: ServiceRuntime) -> LibraryIndex:
    """The process's one similarity index: the library projection's."""
    return next(p.index for p in runtime.spec.projections if isinstance(p, LibraryProjection))


def build_runtime(settings: RecommendationsSettings, clock: Clock = utc_now) -> ServiceRuntime:
    def api(runtime: ServiceRuntime) -> RecommendationsApi:
        return RecommendationsApi(runtime, settings, clock)

    async def check_deadlines(runtime: ServiceRuntime) -> None:
        await run_deadline_checks(api(runtime))

    async def refresh_library_index(runtime: ServiceRuntime) -> None:
        # Loads the index at start (not on the first lookup) and keeps it warm.
        async with runtime.pool.acquire() as connection:
            await library_index(runtime).refresh(connection)

    spec = ServiceSpec(
        name="recommendations",
        topic=RECOMMENDATIONS_EVENTS,
        migrations=[MIGRATIONS],
        projections=projections(settings.library_similarity_threshold),
        subscriptions=[
            Subscription(PANEL_EVENTS, FROM_PANEL, lambda runtime: panel_effect(api(runtime))),
            Subscription(COMMISSIONING_EVENTS, FROM_COMMISSIONING,
                         lambda runtime: commissioning_effect(runtime.store)),
        ],
        background=[every(settings.recommendations_deadline_check_seconds, check_deadlines),
                    every(settings.library_index_refresh_seconds, refresh_library_index)],
    )
    return ServiceRuntime(spec, settings)


def build_app(settings: RecommendationsSettings, clock: Clock = utc_now,
              runtime: ServiceRuntime | None = None) -> FastAPI:
    """The service's HTTP app; starting it (its lifespan) starts the whole runtime."""
    runtime = runtime or build_runtime(settings, clock)
    return create_service_app(
        runtime,
        title="DHR recommendations service",
        description="SMART recommendations from agreed reports or entered directly, each "
        "addressee's response and implementation (claimed and verified) with an NTSB-style "
        "status, correspondence, overdue deadlines and escalation, re-verification, and the "
        "national library.",
        routers=[build_router(RecommendationsApi(runtime, settings, clock)),
                 build_library_router(
                     runtime, clock, library_index(runtime),
                     similarity_threshold=settings.library_similarity_threshold)],
        error_statuses=ERROR_STATUSES,
    )


def main(argv: list[str] | None = None) -> None:
    settings = RecommendationsSettings()
    run_service(argv, settings=settings, runtime=build_runtime(settings),
                build_app=lambda runtime: build_app(settings, runtime=runtime))


if __name__ == "__main__":
    main()
