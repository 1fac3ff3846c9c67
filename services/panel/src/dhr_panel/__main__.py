"""Composition root of the panel service: `serve` (default), `rebuild` or `migrate`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI

from dhr_contracts.topics import COMMISSIONING_EVENTS, PANEL_EVENTS
from dhr_panel.api import ERROR_STATUSES, PanelApi, build_router, run_deadline_checks
from dhr_panel.config import PanelSettings
from dhr_panel.consumers import FROM_COMMISSIONING, HANDLED_TYPES, commissioning_effect
from dhr_panel.family_api import FAMILY_ERROR_STATUSES, build_family_router
from dhr_panel.family_projections import FamilyProjection
from dhr_panel.projections import PanelsProjection
from dhr_platform.app import create_service_app, run_service
from dhr_platform.database import MigrationSource
from dhr_platform.eventstore import InlineProjection
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
            lambda runtime: commissioning_effect(runtime.store), HANDLED_TYPES)],
        background=[every(settings.panel_deadline_check_seconds, check_deadlines)],
    )
    return ServiceRuntime(spec, settings)


def build_app(settings: PanelSettings, clock: Clock = utc_now,
              runtime: ServiceRuntime | None = None) -> FastAPI:
    """The service's HTTP app; starting it (its lifespan) starts the whole runtime."""
    runtime = runtime or build_runtime(settings, clock)

    return create_service_app(
        runtime,
        title="DHR panel service",
        description="The review panel: membership and its balance, terms of reference, agency "
        "information requests (scoping, chronologies, IMRs), meetings with quorum, family and "
        "friends' involvement, report drafts and the agreed report.",
        routers=[build_router(PanelApi(runtime, settings, clock)),
                 build_family_router(runtime, clock)],
        error_statuses={**ERROR_STATUSES, **FAMILY_ERROR_STATUSES},
    )


def main(argv: list[str] | None = None) -> None:
    settings = PanelSettings()
    run_service(argv, settings=settings, runtime=build_runtime(settings),
                build_app=lambda runtime: build_app(settings, runtime=runtime))


if __name__ == "__main__":
    main()
