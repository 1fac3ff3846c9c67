"""Composition root of the panel service: `serve` (default) or `rebuild`."""

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

from dhr_contracts.topics import COMMISSIONING_EVENTS, PANEL_EVENTS
from dhr_panel.api import ERROR_STATUSES, PanelApi, build_router, run_deadline_checks
from dhr_panel.config import PanelSettings
from dhr_panel.consumers import FROM_COMMISSIONING, commissioning_effect
from dhr_panel.family_api import FAMILY_ERROR_STATUSES, build_family_router
from dhr_panel.family_projections import FamilyProjection
from dhr_panel.projections import PanelsProjection
from dhr_platform.database import MigrationSource
from dhr_platform.eventstore import InlineProjection
from dhr_platform.http import create_app
from dhr_platform.projections import rebuild
from dhr_platform.service import ServiceRuntime, ServiceSpec, Subscription, every

# One schema, `panel`, for the panel's and the family record's tables (0001 panel, 0002 family).
MIGRATIONS = MigrationSource("panel", Path(__file__).parent / "migrations")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def projections() -> list[InlineProjection]:
    return [PanelsProjection(), FamilyProjection()]


def build_runtime(settings: PanelSettings, clock: Clock = utc_now) -> ServiceRuntime:
    async def check_deadlines(runtime: ServiceRuntime) -> None:
        await run_deadline_checks(PanelApi(runtime, settings, clock))

    spec = ServiceSpec(
        name="panel",
        topic=PANEL_EVENTS,
        migrations=[MIGRATIONS],
        projections=projections(),
        subscriptions=[Subscription(
            COMMISSIONING_EVENTS, FROM_COMMISSIONING,
            lambda runtime: commissioning_effect(runtime.store))],
        background=[every(settings.panel_deadline_check_seconds, check_deadlines)],
    )
    return ServiceRuntime(spec, settings)


def build_app(settings: PanelSettings, clock: Clock = utc_now,
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
        title="DHR panel service",
        version="1.0.0",
        description="The review panel: membership and its balance, terms of reference, agency "
        "information requests (scoping, chronologies, IMRs), meetings with quorum, family and "
        "friends' involvement, report drafts and the agreed report.",
        routers=[build_router(PanelApi(runtime, settings, clock)),
                 build_family_router(runtime, clock)],
        readiness=runtime.readiness_checks(),
        error_statuses={**ERROR_STATUSES, **FAMILY_ERROR_STATUSES},
        max_body_bytes=settings.max_body_bytes,
        lifespan=lifespan,
    )


async def _rebuild(settings: PanelSettings) -> int:
    from dhr_platform.database import create_pool, migrate, platform_migrations
    from dhr_platform.eventstore import EventStore

    pool = await create_pool(settings.database_url, "panel")
    try:
        await migrate(pool, "panel", [platform_migrations(), MIGRATIONS])
        store = EventStore(pool, projections())
        return await rebuild(store, progress=sys.stderr)
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="dhr-panel")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "rebuild"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = PanelSettings()
    if args.command == "rebuild":
        count = asyncio.run(_rebuild(settings))
        print(f"rebuilt the panel read models from {count} events")
        return
    import uvicorn

    uvicorn.run(build_app(settings), host=settings.http_host, port=settings.http_port,
                timeout_graceful_shutdown=15)


if __name__ == "__main__":
    main()
