"""Composition root of the oversight service: `serve` (default), `rebuild` (the read models;
`dhr rebuild` rebuilds the ledger itself from the topics) or `migrate`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI

from dhr_contracts.commissioning import HistoricReviewRecorded
from dhr_oversight.api import OversightApi, build_router
from dhr_oversight.checkpoints import Checkpointer, LedgerTree
from dhr_oversight.config import OversightSettings
from dhr_oversight.consumers import ledger_effect
from dhr_oversight.keys import SigningKeys, load_signing_keys
from dhr_oversight.national_statistics_api import build_national_statistics_router
from dhr_oversight.storage import MIGRATIONS, entries_of_types
from dhr_platform.app import create_service_app, run_migrations, run_service
from dhr_platform.service import ServiceRuntime, ServiceSpec, Subscription

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Ledger:
    """The in-memory tree and the checkpoint issuer, shared by the consumer side and HTTP."""

    tree: LedgerTree
    checkpointer: Checkpointer
    keys: SigningKeys


class OversightRuntime(ServiceRuntime):
    """The platform runtime, plus the ledger parts the HTTP app shares with it."""

    def __init__(self, spec: ServiceSpec, settings: OversightSettings, ledger: Ledger):
        super().__init__(spec, settings)
        self.ledger = ledger


def build_runtime(settings: OversightSettings, clock: Clock = utc_now,
                  keys: SigningKeys | None = None) -> OversightRuntime:
    keys = keys or load_signing_keys(settings)
    tree = LedgerTree()
    checkpointer = Checkpointer(tree, keys, settings, clock)
    # No event store of its own: the oversight service records other services' events in the
    # ledger and publishes its signed checkpoints directly (run_relay=False). Every topic has
    # its own subscriber in the one consumer group; appends are serialised by a lock (storage).
    spec = ServiceSpec(
        name="oversight",
        topic=settings.oversight_checkpoint_topic,
        migrations=[MIGRATIONS],
        subscriptions=[Subscription(topic, settings.oversight_consumer_group,
                                    lambda runtime: ledger_effect())
                       for topic in settings.oversight_topics],
        run_relay=False,
        background=[checkpointer.run],
    )
    return OversightRuntime(spec, settings, Ledger(tree, checkpointer, keys))


def build_app(settings: OversightSettings, clock: Clock = utc_now,
              runtime: OversightRuntime | None = None) -> FastAPI:
    """The service's HTTP app; starting it (its lifespan) starts the whole runtime."""
    runtime = runtime or build_runtime(settings, clock)
    ledger = runtime.ledger
    api = OversightApi(runtime, settings, ledger.tree, ledger.checkpointer, ledger.keys, clock)

    async def historic_reviews() -> list[dict[str, Any]]:
        async with runtime.pool.acquire() as connection:
            entries = await entries_of_types(connection, [HistoricReviewRecorded.event_type])
        return [entry.event() for entry in entries]

    return create_service_app(
        runtime,
        title="DHR oversight service",
        description="A tamper-evident ledger of every event of every service (RFC 9162 Merkle "
        "tree, signed checkpoints, inclusion and consistency proofs), each review's complete "
        "history, and statutory timeliness statistics for oversight bodies.",
        routers=[build_router(api), build_national_statistics_router(historic_reviews)],
        error_statuses={},
    )


def main(argv: list[str] | None = None) -> None:
    settings = OversightSettings()
    if (sys.argv[1:] if argv is None else argv)[:1] == ["migrate"]:
        # Before the runtime is built: it loads the signing keys, which migrations do not need
        # (a deployment's migration job is given none).
        run_migrations("oversight", [MIGRATIONS], settings)
        return
    runtime = build_runtime(settings)
    run_service(argv, settings=settings, runtime=runtime,
                build_app=lambda _: build_app(settings, runtime=runtime))


if __name__ == "__main__":
    main()
