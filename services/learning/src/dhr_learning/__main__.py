"""Composition root of the learning service: `serve` (default) or `rebuild`."""

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
from dhr_platform.database import MigrationSource
from dhr_platform.http import create_app
from dhr_platform.projections import rebuild
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

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        app.state.runtime = runtime
        try:
            yield
        finally:
            await runtime.stop()

    return create_app(
        title="DHR learning service",
        version="1.0.0",
        description="Blame-free learning events (ground rules acknowledged by every agency), "
        "contributions attributed to agencies never to people, learning points with the Home "
        "Office recommendation themes, their dissemination, and queries across reviews.",
        routers=[build_router(LearningApi(runtime, clock))],
        readiness=runtime.readiness_checks(),
        error_statuses=ERROR_STATUSES,
        max_body_bytes=settings.max_body_bytes,
        lifespan=lifespan,
    )


async def _rebuild(settings: LearningSettings) -> int:
    from dhr_platform.database import create_pool, migrate, platform_migrations
    from dhr_platform.eventstore import EventStore

    pool = await create_pool(settings.database_url, "learning")
    try:
        await migrate(pool, "learning", [platform_migrations(), MIGRATIONS])
        store = EventStore(pool, [LearningProjection()])
        return await rebuild(store, progress=sys.stderr)
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="dhr-learning")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "rebuild"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = LearningSettings()
    if args.command == "rebuild":
        count = asyncio.run(_rebuild(settings))
        print(f"rebuilt the learning read models from {count} events "
              "(known_reviews comes from other services' topics and is kept)")
        return
    import uvicorn

    uvicorn.run(build_app(settings), host=settings.http_host, port=settings.http_port,
                timeout_graceful_shutdown=15)


if __name__ == "__main__":
    main()
