"""Composition root of the commissioning service: `serve` (default) or `rebuild`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI

from dhr_commissioning.api import ERROR_STATUSES, CommissioningApi, build_router
from dhr_commissioning.config import CommissioningSettings
from dhr_commissioning.consumers import (
    INTAKE_CONSUMER,
    PANEL_CONSUMER,
    intake_effect,
    report_agreed_effect,
)
from dhr_commissioning.projections import ReviewsProjection
from dhr_contracts.topics import COMMISSIONING_EVENTS, INTAKE_NOTIFICATIONS, PANEL_EVENTS
from dhr_platform.database import MigrationSource
from dhr_platform.http import create_app
from dhr_platform.projections import rebuild
from dhr_platform.service import ServiceRuntime, ServiceSpec, Subscription

MIGRATIONS = MigrationSource("commissioning", Path(__file__).parent / "migrations")


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_runtime(settings: CommissioningSettings,
                  clock: Callable[[], datetime] = utc_now) -> ServiceRuntime:
    spec = ServiceSpec(
        name="commissioning",
        topic=COMMISSIONING_EVENTS,
        migrations=[MIGRATIONS],
        projections=[ReviewsProjection()],
        subscriptions=[
            Subscription(INTAKE_NOTIFICATIONS, INTAKE_CONSUMER,
                         lambda runtime: intake_effect(runtime.store, settings, clock)),
            Subscription(PANEL_EVENTS, PANEL_CONSUMER,
                         lambda runtime: report_agreed_effect(runtime.store)),
        ],
    )
    return ServiceRuntime(spec, settings)


def build_app(settings: CommissioningSettings, clock: Callable[[], datetime] = utc_now,
              runtime: ServiceRuntime | None = None) -> FastAPI:
    """The service's HTTP app; starting it (its lifespan) starts the whole runtime."""
    runtime = runtime or build_runtime(settings, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        app.state.runtime = runtime
        try:
            yield
        finally:
            await runtime.stop()

    return create_app(
        title="DHR commissioning service",
        version="1.0.0",
        description="Death notifications, eligibility, the decision to commission a Domestic "
        "Homicide Review, the independent Chair, pauses and parallel reviews; then the agreed "
        "report's sign-off, Home Office quality assurance, publication and copies to oversight "
        "bodies.",
        routers=[build_router(CommissioningApi(runtime, settings, clock))],
        readiness=runtime.readiness_checks(),
        error_statuses=ERROR_STATUSES,
        max_body_bytes=settings.max_body_bytes,
        lifespan=lifespan,
    )


async def _rebuild(settings: CommissioningSettings) -> int:
    from dhr_platform.database import create_pool, migrate, platform_migrations
    from dhr_platform.eventstore import EventStore

    pool = await create_pool(settings.database_url, "commissioning")
    try:
        await migrate(pool, "commissioning", [platform_migrations(), MIGRATIONS])
        store = EventStore(pool, [ReviewsProjection()])
        return await rebuild(store, progress=sys.stderr)
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="dhr-commissioning")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "rebuild"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = CommissioningSettings()
    if args.command == "rebuild":
        count = asyncio.run(_rebuild(settings))
        print(f"rebuilt the reviews read model from {count} events")
        return
    import uvicorn

    uvicorn.run(build_app(settings), host=settings.http_host, port=settings.http_port,
                timeout_graceful_shutdown=15)


if __name__ == "__main__":
    main()
