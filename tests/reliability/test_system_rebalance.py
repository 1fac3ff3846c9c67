"""A second instance of the panel and oversight services joins their consumer groups in the
middle of a stream, takes partitions over, and leaves again before the stream ends: two
rebalances each, and still every event is processed exactly once."""

from __future__ import annotations

import asyncio

import pytest
from system_support import (
    SERVICES,
    CommandStream,
    Credentials,
    HeldBack,
    Phases,
    System,
    assert_consistent,
    assert_every_command_applied_once,
    sizes,
    wait_for_backlog,
)

from dhr_local.kafka import LocalKafka

SECOND_INSTANCES = {"panel": "panel-2", "oversight": "oversight-2"}


@pytest.mark.parametrize("commands", sizes(900, 5000))
async def test_a_second_instance_joining_and_leaving_mid_stream_processes_each_event_once(
    commands: int, fresh_database: str, empty_private_kafka: LocalKafka,
    credentials: Credentials,
) -> None:
    system = System(fresh_database, empty_private_kafka.bootstrap, credentials)
    phases = Phases()
    applied_by_second: dict[str, int] = {}
    try:
        for service in SERVICES:
            await system.start(service)
        stream = CommandStream(lambda: system.client("commissioning"), reviews=commands // 3)
        driving = asyncio.create_task(stream.run())
        await stream.wait_for(stream.commands // 3)
        phases.done("stream, one instance each")

        # The consumers are fast enough to keep up with the stream: hold them back so that
        # each group has records left, and a batch in flight, when the second instance joins.
        held = await HeldBack.hold(fresh_database)
        try:
            await wait_for_backlog(empty_private_kafka.bootstrap)
            for service, second in SECOND_INSTANCES.items():
                await system.start(service, instance=second)
        finally:
            await held.release()
        await stream.wait_for(stream.commands * 2 // 3)
        phases.done("stream, two instances each")

        # The same for leaving: the second instances start to stop with a batch waiting.
        seconds = {second: system.running[second].runtime.consumers
                   for second in SECOND_INSTANCES.values()}
        held = await HeldBack.hold(fresh_database)
        try:
            await wait_for_backlog(empty_private_kafka.bootstrap)
            stopping = [asyncio.create_task(system.stop(second))
                        for second in SECOND_INSTANCES.values()]
            await asyncio.sleep(0.5)
        finally:
            await held.release()
        await asyncio.gather(*stopping)
        applied_by_second = {second: consumers.applied if consumers else 0
                             for second, consumers in seconds.items()}
        await asyncio.wait_for(driving, timeout=900)
        phases.done("stream, one instance each again")
        report = await system.settle_and_check(phases)
    finally:
        await system.close()

    print(f"effects applied by the second instances: {applied_by_second}")
    assert all(applied_by_second.values()), f"an instance got no partition: {applied_by_second}"
    await assert_every_command_applied_once(fresh_database, stream)
    assert_consistent(report, reviews=stream.reviews)
