"""Composition root of the commissioning service: `serve` (default), `rebuild` or `migrate`."""

from __future__ import annotations

from collections.abc import Callable
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
    without_personal_data,
)
from dhr_commissioning.historic_api import HISTORIC_ERROR_STATUSES, build_historic_router
from dhr_commissioning.projections import ReviewsProjection
from dhr_contracts.panel import ReviewReportAgreed
from dhr_contracts.topics import COMMISSIONING_EVENTS, INTAKE_NOTIFICATIONS, PANEL_EVENTS
from dhr_platform.app import create_service_app, run_service
from dhr_platform.database import MigrationSource
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
                         lambda runtime: intake_effect(runtime.store, settings, clock),
                         dead_letter_value=without_personal_data),
            Subscription(PANEL_EVENTS, PANEL_CONSUMER,
                         lambda runtime: report_agreed_effect(runtime.store),
                         frozenset({ReviewReportAgreed.event_type})),
        ],
    )
    return ServiceRuntime(spec, settings)


def build_app(settings: CommissioningSettings, clock: Callable[[], datetime] = utc_now,
              runtime: ServiceRuntime | None = None) -> FastAPI:
    """The service's HTTP app; starting it (its lifespan) starts the whole runtime."""
    runtime = runtime or build_runtime(settings, clock)

    return create_service_app(
        runtime,
        title="DHR commissioning service",
        description="Death notifications, eligibility, the decision to commission a Domestic "
        "Homicide Review, the independent Chair, pauses and parallel reviews; then the agreed "
        "report's sign-off, Home Office quality assurance, publication and copies to oversight "
        "bodies.",
        routers=[build_router(CommissioningApi(runtime, settings, clock)),
                 build_historic_router(runtime, clock)],
        error_statuses={**ERROR_STATUSES, **HISTORIC_ERROR_STATUSES},
    )


def main(argv: list[str] | None = None) -> None:
    settings = CommissioningSettings()
    run_service(argv, settings=settings, runtime=build_runtime(settings),
                build_app=lambda runtime: build_app(settings, runtime=runtime))


if __name__ == "__main__":
    main()
