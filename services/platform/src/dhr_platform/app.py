"""What every service's composition root shares: the app whose lifespan runs the runtime, and
the `serve` / `rebuild` / `migrate` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import cache
from types import FrameType

from fastapi import APIRouter, FastAPI

from dhr_contracts.topics import dead_letter_topic
from dhr_platform import dead_letters
from dhr_platform.auth import token_verifier_from
from dhr_platform.database import (
    DatabaseConnection,
    MigrationSource,
    create_pool,
    migrate,
    platform_migrations,
)
from dhr_platform.disclosure import AccessLog, Disclosure
from dhr_platform.eventstore import EventStore
from dhr_platform.http import create_app
from dhr_platform.kafka import KafkaAccessError, KafkaConnection
from dhr_platform.logs import configure_logging
from dhr_platform.metrics import metrics_router
from dhr_platform.projections import rebuild, rebuild_from_topic
from dhr_platform.service import ServiceRuntime, ServiceSpec
from dhr_platform.settings import PlatformSettings
from dhr_platform.telemetry import RequestTelemetry, Telemetry

COMMANDS = ("serve", "rebuild", "migrate", "openapi", "dead-letters")


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

    def telemetry() -> Telemetry:
        return runtime.telemetry or _no_telemetry()

    app = create_app(
        title=title, version=version, description=description,
        routers=routers,
        public_routers=[metrics_router(lambda: telemetry().registry, runtime.refresh_metrics)],
        readiness=runtime.readiness_checks(), error_statuses=error_statuses,
        max_body_bytes=runtime.settings.max_body_bytes, token_verifier=token_verifier,
        lifespan=lifespan,
    )
    # Opens the sealed personal values of JSON answers for callers allowed them, and records
    # each disclosure (dhr_platform/disclosure.py).
    app.add_middleware(Disclosure, keyring=lambda: runtime.keyring, pool=lambda: runtime.pool,
                       access_log=AccessLog(runtime.spec.name, lambda: runtime.store))
    # Added last, so outermost: it sees every answer, the body limit's 413 included.
    app.add_middleware(RequestTelemetry, telemetry=telemetry)
    return app


@cache
def _no_telemetry() -> Telemetry:
    return Telemetry.disabled()


async def apply_migrations(name: str, migrations: Sequence[MigrationSource],
                           settings: PlatformSettings) -> list[str]:
    """Create the service's schema and apply its pending migrations; nothing else (no Kafka)."""
    pool = await create_pool(DatabaseConnection.from_settings(settings), name, max_size=1)
    try:
        return await migrate(pool, name, [platform_migrations(), *migrations])
    finally:
        await pool.close()


def run_migrations(name: str, migrations: Sequence[MigrationSource],
                   settings: PlatformSettings) -> None:
    """`dhr-<service> migrate`: apply the pending migrations and say which."""
    applied = asyncio.run(apply_migrations(name, migrations, settings))
    print(f"{name}: applied {', '.join(applied)}" if applied else f"{name}: nothing to apply")


async def rebuild_read_models(spec: ServiceSpec, settings: PlatformSettings, *,
                              from_kafka: bool = False) -> int:
    """Migrate, then empty the service's read models and replay its event store (or its topic)
    into them."""
    pool = await create_pool(DatabaseConnection.from_settings(settings), spec.name)
    try:
        await migrate(pool, spec.name, [platform_migrations(), *spec.migrations])
        store = EventStore(pool, spec.projections)
        if from_kafka:
            return await rebuild_from_topic(store, KafkaConnection.from_settings(settings),
                                            spec.topic, progress=sys.stderr)
        return await rebuild(store, progress=sys.stderr)
    finally:
        await pool.close()


def openapi_text(app: FastAPI) -> str:
    """The app's OpenAPI document as deterministic JSON text (sorted keys, trailing newline)."""
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


async def handle_dead_letters(spec: ServiceSpec, settings: PlatformSettings, *,
                              replay_them: bool, show_all: bool, event_ids: Sequence[str]) -> int:
    """`dhr-<service> dead-letters`: print (or replay) what the service's consumers parked."""
    topics = [dead_letter_topic(s.topic) for s in spec.subscriptions]
    consumers = [s.consumer for s in spec.subscriptions]
    kafka = KafkaConnection.from_settings(settings)
    if replay_them:
        done = await dead_letters.replay(kafka, spec.name, topics, consumers,
                                         event_ids=event_ids)
        for letter in done:
            print(f"replayed {letter.summary()}")
        print(f"{len(done)} dead letter(s) replayed to their original topics")
        return 0
    found, _ = await dead_letters.read_dead_letters(kafka, spec.name, topics,
                                                    consumers, pending_only=not show_all)
    for letter in found:
        print(letter.summary())
    print(f"{len(found)} dead letter(s){'' if show_all else ' not yet replayed'}")
    return 0


def run_service(
    argv: list[str] | None,
    *,
    settings: PlatformSettings,
    runtime: ServiceRuntime,
    build_app: Callable[[ServiceRuntime], FastAPI],
) -> None:
    """`dhr-<service> [serve]` runs the service; `rebuild` rebuilds its read models; `migrate`
    applies its pending database migrations and exits (a deployment runs it before a rollout);
    `openapi` prints its OpenAPI document (what contracts/schemas/openapi holds);
    `dead-letters` lists what its consumers parked, and with --replay republishes it."""
    parser = argparse.ArgumentParser(prog=f"dhr-{runtime.spec.name}")
    parser.add_argument("command", nargs="?", default="serve", choices=COMMANDS)
    rebuilding = parser.add_argument_group("rebuild")
    rebuilding.add_argument("--from-kafka", action="store_true",
                            help="replay the service's topic instead of its event store (to "
                            "check the read models against what was published)")
    letters = parser.add_argument_group("dead-letters")
    letters.add_argument("--all", action="store_true",
                         help="list every dead letter, not only those not yet replayed")
    letters.add_argument("--replay", action="store_true",
                         help="republish the pending dead letters to their original topics")
    letters.add_argument("--event-id", action="append", default=[], metavar="CE_ID",
                         help="with --replay: only this event (repeatable)")
    args = parser.parse_args(argv)
    if args.command == "openapi":
        print(openapi_text(build_app(runtime)), end="")
        return
    try:
        # What needs only the database checks only its settings (a migration Job has no Kafka).
        if args.command == "migrate" or (args.command == "rebuild" and not args.from_kafka):
            settings.refuse_development_database()
        else:
            settings.refuse_development_defaults()
    except ValueError as error:
        raise SystemExit(f"dhr-{runtime.spec.name} {args.command}: {error}") from None
    if args.command == "dead-letters":
        try:
            sys.exit(asyncio.run(handle_dead_letters(
                runtime.spec, settings, replay_them=args.replay, show_all=args.all,
                event_ids=args.event_id)))
        except KafkaAccessError as error:
            raise SystemExit(f"dhr-{runtime.spec.name} dead-letters: {error}") from None
    configure_logging(settings.otel_service_name or f"dhr-{runtime.spec.name}",
                      level=settings.log_level, log_format=settings.log_format)
    if args.command == "migrate":
        run_migrations(runtime.spec.name, runtime.spec.migrations, settings)
        return
    if args.command == "rebuild":
        count = asyncio.run(rebuild_read_models(runtime.spec, settings,
                                                from_kafka=args.from_kafka))
        tables = ", ".join(t for p in runtime.spec.projections for t in p.tables)
        source = f"the topic {runtime.spec.topic}" if args.from_kafka else "the event store"
        print(f"rebuilt the {runtime.spec.name} read models ({tables}) from {count} events "
              f"of {source}")
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
