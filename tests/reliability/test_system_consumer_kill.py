"""The panel and oversight services, as processes of their own, killed with SIGKILL three times
while they consume a stream of events: after each restart, no effect is applied twice (no panel
opened twice, no event twice in the ledger) and none is missing (no gap).

The first time each kills itself right after an effect committed and before Kafka committed the
record's offset (`service_process.py --die-after-effects`): the one window in which Kafka must
deliver again a record whose effect is already applied. The other two times the test kills them
wherever they are in their batch.
"""

from __future__ import annotations

import asyncio
import signal

import pytest
from reliability_support import Launch
from system_support import (
    CommandStream,
    Credentials,
    HeldBack,
    Phases,
    System,
    assert_consistent,
    assert_every_command_applied_once,
    effects_not_acknowledged,
    sizes,
    wait_for_backlog,
)

from dhr_local.kafka import LocalKafka
from dhr_oversight.config import LEDGER_CONSUMER

KILLS = 3
CONSUMING = ("panel", "oversight")
# The first crash: after this many effects of each service's consumers.
DIE_AFTER_EFFECTS = {"panel": 150, "oversight": 400}


@pytest.mark.parametrize("commands", sizes(900, 5000))
async def test_consumers_killed_mid_batch_three_times_apply_every_event_once(
    commands: int, fresh_database: str, empty_private_kafka: LocalKafka, launch: Launch,
    credentials: Credentials,
) -> None:
    bootstrap = empty_private_kafka.bootstrap
    system = System(fresh_database, bootstrap, credentials)
    phases = Phases()
    not_acknowledged = []
    try:
        await system.start("commissioning")
        for service in CONSUMING:
            await system.start_process(launch, service,
                                       die_after_effects=DIE_AFTER_EFFECTS[service])
        stream = CommandStream(lambda: system.client("commissioning"), reviews=commands // 3)
        # Held at the second kill's point until it comes: the whole stream could otherwise be
        # sent while the first crash restarts the consumers, leaving the later kills no backlog.
        stream.pause_at(stream.commands * 2 // (KILLS + 1))
        driving = asyncio.create_task(stream.run())
        phases.done("start")

        for service in CONSUMING:  # 1. each dies by its own hand, in the window
            exit_code = await system.processes[service].child.exit_code(timeout=300)
            assert exit_code == -signal.SIGKILL, system.processes[service].child.output()
            await system.kill_process(service)
        not_acknowledged.append(await effects_not_acknowledged(fresh_database, bootstrap))
        for service in CONSUMING:
            await system.start_process(launch, service)
        phases.done("kill 1")

        for kill in range(2, KILLS + 1):  # 2. and 3. killed by the test, mid-batch
            await stream.wait_for(stream.commands * kill // (KILLS + 1))
            # The consumers keep up with the stream: held back, the ledger has a batch in
            # flight (waiting on the lock) and records behind it when it is killed.
            held = await HeldBack.hold(fresh_database)
            stream.pause_at(stream.commands * (kill + 1) // (KILLS + 1) if kill < KILLS else None)
            try:
                lags = await wait_for_backlog(bootstrap, groups=(LEDGER_CONSUMER,))
                lag = lags[LEDGER_CONSUMER]
                for service in CONSUMING:
                    await system.kill_process(service)
            finally:
                await held.release()
            not_acknowledged.append(await effects_not_acknowledged(fresh_database, bootstrap))
            for service in CONSUMING:
                await system.start_process(launch, service)
            phases.done(f"kill {kill} (ledger lag {lag})")

        await asyncio.wait_for(driving, timeout=900)
        phases.done("rest of the stream")
        report = await system.settle_and_check(phases)
    finally:
        await system.close()

    print(f"effects applied but not acknowledged at each kill: {not_acknowledged}")
    assert all(not_acknowledged[0].values()), (
        "the first crash was not between an effect's commit and its offset's")
    await assert_every_command_applied_once(fresh_database, stream)
    assert_consistent(report, reviews=stream.reviews)
