"""What every service's composition root shares: the app whose lifespan runs the runtime, and
the `serve` / `rebuild` command line."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import cache
from types import FrameType

from fastapi import APIRouter, FastAPI

from dhr_platform.database import create_pool, migrate, platform_migrations
from dhr_platform.eventstore import EventStore
from dhr_platform.http import create_app
from dhr_platform.logs import configure_logging
from dhr_platform.metrics import metrics_router
from dhr_platform.projections import rebuild
from dhr_platform.service import ServiceRuntime, ServiceSpec
from dhr_platform.settings import PlatformSettings
from dhr_platform.telemetry import RequestTelemetry, Telemetry


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
    it finishes in-flight work first."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        app.state.runtime = runtime
        try:
            yield
        finally:
            await runtime.stop()

    def telemetry() -> Telemetry:
        return runtime.telemetry or _no_telemetry()

    app = create_app(
        title=title, version=version, description=description,
        routers=[*routers, metrics_router(lambda: telemetry().registry, runtime.refresh_metrics)],
        readiness=runtime.readiness_checks(), error_statuses=error_statuses,
        max_body_bytes=runtime.settings.max_body_bytes, lifespan=lifespan,
    )
    # Added last, so outermost: it sees every answer, the body limit's 413 included.
    app.add_middleware(RequestTelemetry, telemetry=telemetry)
    return app


@cache
def _no_telemetry() -> Telemetry:
    return Telemetry.disabled()


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
    configure_logging(settings.otel_service_name or f"dhr-{runtime.spec.name}",
                      level=settings.log_level, log_format=settings.log_format)
    if args.command == "rebuild":
        count = asyncio.run(rebuild_read_models(runtime.spec, settings))
        tables = ", ".join(t for p in runtime.spec.projections for t in p.tables)
        print(f"rebuilt the {runtime.spec.name} read models ({tables}) from {count} events")
        return
    import uvicorn

    # On SIGTERM (or Ctrl-C) uvicorn stops accepting connections, lets in-flight requests
    # finish (up to 15 s), runs the lifespan's shutdown (runtime.stop) and then raises the
    # signal again for its previous handler: ours ends the process with 0 after a clean stop.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _stop_requested)
    try:
        uvicorn.run(build_app(runtime), host=settings.http_host, port=settings.http_port,
                    timeout_graceful_shutdown=15, log_config=None, access_log=False)
    except _StopRequested:
        pass
    if runtime.started and not runtime.stopped:
        raise SystemExit(f"dhr-{runtime.spec.name}: the service did not stop cleanly")


class _StopRequested(Exception):
    """SIGTERM or SIGINT, once uvicorn has shut down (or before it started)."""


def _stop_requested(signum: int, frame: FrameType | None) -> None:
    raise _StopRequested(signal.Signals(signum).name)
