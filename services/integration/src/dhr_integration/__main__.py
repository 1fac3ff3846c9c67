"""Composition root of the integration service: `serve` (default), `migrate` or `openapi`
(`rebuild` has nothing to do: no read model is built from an event store of its own)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from dhr_integration.api import ERROR_STATUSES, IntegrationApi, build_router
from dhr_integration.config import IntegrationSettings
from dhr_integration.consumers import matching_effect
from dhr_integration.delivery import DeliveryWorker
from dhr_platform.app import create_service_app, run_service
from dhr_platform.database import MigrationSource
from dhr_platform.service import ServiceRuntime, ServiceSpec, Subscription

MIGRATIONS = MigrationSource("integration", Path(__file__).parent / "migrations")


def build_runtime(settings: IntegrationSettings,
                  worker: DeliveryWorker | None = None) -> ServiceRuntime:
    worker = worker or DeliveryWorker(settings)
    # No events of its own (ADR 0011): subscriptions and deliveries are operational state, so no
    # relay runs. `topic` must name one; the first matched topic is created or found anyway.
    spec = ServiceSpec(
        name="integration",
        topic=settings.integration_topics[0],
        migrations=[MIGRATIONS],
        subscriptions=[Subscription(topic, settings.integration_consumer_group,
                                    lambda runtime: matching_effect())
                       for topic in settings.integration_topics],
        run_relay=False,
        background=[worker.run],
    )
    return ServiceRuntime(spec, settings)


def build_app(settings: IntegrationSettings, runtime: ServiceRuntime | None = None) -> FastAPI:
    """The service's HTTP app; starting it (its lifespan) starts the whole runtime."""
    runtime = runtime or build_runtime(settings)
    return create_service_app(
        runtime,
        title="DHR integration service",
        description="Webhooks for agency case systems: each organisation subscribes to the events "
        "that concern it (its notifications, information requests, panel actions, "
        "recommendations addressed to it, deadlines), delivered as signed CloudEvents with "
        "retries, in order per review, with a delivery log and replays. See docs/integration.md.",
        routers=[build_router(IntegrationApi(runtime, settings))],
        error_statuses=ERROR_STATUSES,
    )


def main(argv: list[str] | None = None) -> None:
    settings = IntegrationSettings()
    run_service(argv, settings=settings, runtime=build_runtime(settings),
                build_app=lambda runtime: build_app(settings, runtime=runtime))


if __name__ == "__main__":
    main()
