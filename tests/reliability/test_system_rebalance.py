"""A second instance of the panel and oversight services joins their consumer groups in the
middle of a stream, takes partitions over, and leaves again before the stream ends: two
rebalances each, and still every event is processed exactly once."""

from __future__ import annotations

import asyncio

import pytest
from reliability_support import consumer_group_lag
from system_support import (
    CONSUMERS,
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

SECOND_INSTANCES = {"panel": "panel-2", "oversight": "oversight-2"}


async def assert_each_group_has_work_left(bootstrap: str) -> None:
    """A rebalance now happens mid-stream: every group still has records to process."""
    for group, topics in CONSUMERS:
        lag = sum([await consumer_group_lag(bootstrap, group, topic) for topic in topics])
        assert lag > 0, f"{group} had caught up: its rebalance would not be mid-stream"


@pytest.mark.parametrize("commands", sizes(900, 5000))
async def test_a_second_instance_joining_and_leaving_mid_stream_processes_each_event_once(
    commands: int, fresh_database: str, empty_private_kafka: LocalKafka,
    credentials: Credentials,
) -> None:
    system = System(fresh_database, empty_private_kafka.bootstrap, credentials)
    phases = Phases()
    applied_by_second = {}
    try:
        for service in SERVICES:
            await system.start(service)
        stream = CommandStream(lambda: system.client("commissioning"), reviews=commands // 3)
        driving = asyncio.create_task(stream.run())
        await stream.wait_for(stream.commands // 3)
        phases.done("stream, one instance each")

        await assert_each_group_has_work_left(empty_private_kafka.bootstrap)
        for service, second in SECOND_INSTANCES.items():
            await system.start(service, instance=second)
        await stream.wait_for(stream.commands * 2 // 3)
        phases.done("stream, two instances each")

        await assert_each_group_has_work_left(empty_private_kafka.bootstrap)
        for second in SECOND_INSTANCES.values():
            consumers = system.running[second].runtime.consumers
            assert consumers is not None
            applied_by_second[second] = consumers.applied
            await system.stop(second)
        await asyncio.wait_for(driving, timeout=900)
        phases.done("stream, one instance each again")
        await system.settle(timeout=900)
        phases.done("settle")
        report = await system.check()
        phases.done("check")
    finally:
        await system.close()

    print(f"effects applied by the second instances: {applied_by_second}")
    assert all(applied_by_second.values()), f"an instance got no partition: {applied_by_second}"
    await assert_every_command_applied_once(fresh_database, stream)
    assert_consistent(report, reviews=stream.reviews)
