"""PostgreSQL restarted in the middle of a stream of HTTP commands: commands during the outage
get a quick 503 problem+json with Retry-After (no hang, nothing half-applied), and the services
serve again without being restarted; in the end every event is everywhere, once."""

from __future__ import annotations

import asyncio

import pytest
from system_support import (
    SERVICES,
    CommandStream,
    Credentials,
    Phases,
    System,
    assert_consistent,
    assert_every_command_applied_once,
    sizes,
)

from dhr_local.kafka import LocalKafka
from dhr_local.postgres import LocalPostgres

OUTAGE_SECONDS = 5.0
# A refusal must come well before any client would give up on its own.
FAST_SECONDS = 3.0


@pytest.mark.parametrize("commands", sizes(900, 5000))
async def test_a_database_restart_mid_stream_refuses_quickly_and_recovers_by_itself(
    commands: int, private_database: str, private_postgres: LocalPostgres,
    empty_private_kafka: LocalKafka,
    credentials: Credentials,
) -> None:
    system = System(private_database, empty_private_kafka.bootstrap, credentials)
    phases = Phases()
    try:
        for service in SERVICES:
            await system.start(service)
        stream = CommandStream(lambda: system.client("commissioning"), reviews=commands // 3)
        driving = asyncio.create_task(stream.run())
        await stream.wait_for(stream.commands * 2 // 5)
        phases.done("stream before the restart")

        await asyncio.to_thread(private_postgres.stop)
        try:
            await asyncio.sleep(OUTAGE_SECONDS)
            refused_while_down = len(stream.refusals)
        finally:
            await asyncio.to_thread(private_postgres.start)
        phases.done("outage")

        await asyncio.wait_for(driving, timeout=900)
        phases.done("rest of the stream")
        for name in SERVICES:  # the same processes: nothing was restarted but the database
            response = await system.client(name).get("/readyz")
            assert response.status_code == 200, f"{name}: {response.text}"
        report = await system.settle_and_check(phases)
    finally:
        await system.close()

    assert refused_while_down > 0, "no command met the outage"
    for refusal in stream.refusals:
        assert refusal.response.headers["content-type"] == "application/problem+json"
        assert int(refusal.response.headers["retry-after"]) >= 1
        assert refusal.seconds < FAST_SECONDS, f"{refusal.path} took {refusal.seconds:.1f}s"
    await assert_every_command_applied_once(private_database, stream)
    assert_consistent(report, reviews=stream.reviews)
