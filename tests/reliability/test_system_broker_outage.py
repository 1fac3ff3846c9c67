"""The Kafka broker stopped for ten seconds in the middle of a stream of HTTP commands: commands
go on being accepted, and once it is back every event reaches Kafka, the panel and the ledger,
each once."""

from __future__ import annotations

import asyncio

import pytest
from system_support import SERVICES, CommandStream, Credentials, Phases, System, assert_consistent, sizes

from dhr_local.kafka import LocalKafka

OUTAGE_SECONDS = 10.0


@pytest.mark.parametrize("commands", sizes(900, 5000))
async def test_a_broker_outage_mid_stream_loses_and_doubles_nothing(
    commands: int, fresh_database: str, empty_private_kafka: LocalKafka,
    credentials: Credentials,
) -> None:
    kafka = empty_private_kafka
    system = System(fresh_database, kafka.bootstrap, credentials)
    phases = Phases()
    try:
        for service in SERVICES:
            await system.start(service)
        stream = CommandStream(lambda: system.client("commissioning"), reviews=commands // 3)
        driving = asyncio.create_task(stream.run())
        await stream.wait_for(stream.commands * 2 // 5)
        phases.done("stream before the outage")

        await asyncio.to_thread(kafka.stop)
        accepted_before = stream.completed
        await asyncio.sleep(OUTAGE_SECONDS)
        accepted_during = stream.completed - accepted_before
        await asyncio.to_thread(kafka.start)
        await asyncio.to_thread(kafka.wait_ready, 120)
        phases.done("outage and broker restart")

        await asyncio.wait_for(driving, timeout=900)
        phases.done("rest of the stream")
        report = await system.settle_and_check(phases)
    finally:
        await system.close()

    # The outbox decouples commands from Kafka: the outage cost no command.
    assert accepted_during > 0, "no command was accepted while the broker was down"
    assert stream.statuses.keys() <= {200, 201}, stream.statuses
    assert_consistent(report, reviews=stream.reviews)
