"""What every service's composition root shares: the app whose lifespan runs the runtime, and
the `serve` / `rebuild` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from dhr_platform.auth import token_verifier_from
from dhr_platform.database import create_pool, migrate, platform_migrations
from dhr_platform.eventstore import EventStore
from dhr_platform.http import create_app
from dhr_platform.projections import rebuild
from dhr_platform.service import ServiceRuntime, ServiceSpec
from dhr_platform.settings import PlatformSettings


def create_service_app(
    runtime: ServiceRuntime,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    error_statuses: Mapping[type[Exception], int],
    version: str = "1.0.0",
) -> FastAPI:
    """The service's HTTP app; starting it (its lifespan) starts the whole runtime, and stopping
    it finishes in-flight work first. Its routes take bearer tokens verified as the DHR_AUTH_*
    settings say: without them the app can be built (to describe its API) but not started."""
    settings = runtime.settings
    token_verifier = token_verifier_from(settings) if settings.auth_configured else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if token_verifier is None:
            settings.require_auth_configuration()  # refuses: there is no anonymous mode
        await runtime.start()
        app.state.runtime = runtime
        try:
            yield
        finally:
            await runtime.stop()

    return create_app(
        title=title, version=version, description=description, routers=routers,
        readiness=runtime.readiness_checks(), error_statuses=error_statuses,
        max_body_bytes=runtime.settings.max_body_bytes, token_verifier=token_verifier,
        lifespan=lifespan,
    )


async def rebuild_read_models(spec: ServiceSpec, settings: PlatformSettings) -> int:
    """Migrate, then empty the service's read models and replay its event store into them."""
    pool = await create_pool(settings.database_url, spec.name)
    try:
        await migrate(pool, spec.name, [platform_migrations(), *spec.migrations])
        return await rebuild(EventStore(pool, spec.projections), progress=sys.stderr)
    finally:
        await pool.close()


def run_service(
    argv: list[str] | None,
    *,
    settings: PlatformSettings,
    runtime: ServiceRuntime,
    build_app: Callable[[ServiceRuntime], FastAPI],
) -> None:
    """`dhr-<service> [serve]` runs the service; `dhr-<service> rebuild` rebuilds its read models."""
    parser = argparse.ArgumentParser(prog=f"dhr-{runtime.spec.name}")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "rebuild"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.command == "rebuild":
        count = asyncio.run(rebuild_read_models(runtime.spec, settings))
        tables = ", ".join(t for p in runtime.spec.projections for t in p.tables)
        print(f"rebuilt the {runtime.spec.name} read models ({tables}) from {count} events")
        return
    import uvicorn

    uvicorn.run(build_app(runtime), host=settings.http_host, port=settings.http_port,
                timeout_graceful_shutdown=15)
