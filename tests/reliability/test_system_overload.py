"""Overload: more concurrent commands than pooled connections while a slow transaction holds
them up, and consumers far behind a backlog of events. Each answers clearly (503 with
Retry-After, or 404 problem+json for what a lagging consumer has not seen yet), nothing hangs,
and everything recovers with every event processed once."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest
from reliability_support import consumer_group_lag
from system_support import (
    CONSUMERS,
    SERVICES,
    CommandStream,
    Credentials,
    HeldBack,
    Phases,
    System,
    assert_consistent,
    assert_every_command_applied_once,
    sizes,
)

from dhr_local.kafka import LocalKafka

POOL_SIZE = 6
ACQUIRE_TIMEOUT_SECONDS = 1.0
SLOW_TRANSACTION_SECONDS = 4.0
# A refusal must come soon after the acquire timeout, well before a client would give up.
FAST_SECONDS = 3.0


@pytest.mark.parametrize("commands", sizes(600, 3000))
async def test_commands_beyond_the_pool_get_503_with_retry_after_while_a_slow_transaction_holds_it(
    commands: int, fresh_database: str, empty_private_kafka: LocalKafka,
    credentials: Credentials,
) -> None:
    system = System(fresh_database, empty_private_kafka.bootstrap, credentials,
                    database_pool_size=POOL_SIZE,
                    database_acquire_timeout_seconds=ACQUIRE_TIMEOUT_SECONDS)
    phases = Phases()
    try:
        for service in SERVICES:
            await system.start(service)
        stream = CommandStream(lambda: system.client("commissioning"), reviews=commands // 3,
                               concurrency=4 * POOL_SIZE)
        driving = asyncio.create_task(stream.run())
        await stream.wait_for(stream.commands // 4)
        phases.done("stream before the slow transaction")

        # A slow transaction (a long migration, a heavy report) that every command's insert
        # must wait for: the commands in flight hold the pool's connections meanwhile.
        slow = await asyncpg.connect(fresh_database)
        try:
            async with slow.transaction():
                await slow.execute("LOCK TABLE commissioning.events IN SHARE ROW EXCLUSIVE MODE")
                await asyncio.sleep(SLOW_TRANSACTION_SECONDS)
                refused_meanwhile = len(stream.refusals)
        finally:
            await slow.close()
        phases.done("slow transaction")

        await asyncio.wait_for(driving, timeout=900)
        phases.done("rest of the stream")
        report = await system.settle_and_check(phases)
    finally:
        await system.close()

    assert refused_meanwhile > 0, "no command was refused while the pool was exhausted"
    for refusal in stream.refusals:
        assert refusal.response.headers["content-type"] == "application/problem+json"
        assert refusal.response.headers["retry-after"] == "1"
        assert refusal.response.json()["title"] == "Service overloaded"
        assert refusal.seconds < FAST_SECONDS, f"{refusal.path} took {refusal.seconds:.1f}s"
    await assert_every_command_applied_once(fresh_database, stream)
    assert_consistent(report, reviews=stream.reviews)


async def lag(bootstrap: str) -> int:
    return sum([await consumer_group_lag(bootstrap, group, topic)
                for group, topics in CONSUMERS for topic in topics])


@pytest.mark.parametrize("commands", sizes(900, 5000))
async def test_consumers_far_behind_a_backlog_answer_clearly_and_catch_up(
    commands: int, fresh_database: str, empty_private_kafka: LocalKafka,
    credentials: Credentials,
) -> None:
    bootstrap = empty_private_kafka.bootstrap
    system = System(fresh_database, bootstrap, credentials)
    phases = Phases()
    try:
        for service in SERVICES:
            await system.start(service)
        first = CommandStream(lambda: system.client("commissioning"), reviews=commands // 30)
        await first.run()
        await system.settle(timeout=300)
        phases.done("first tenth, consumed at once")

        # The consumers stop; nine tenths of the stream pile up on the topics behind them.
        for service in ("panel", "oversight"):
            await system.stop(service)
        rest = CommandStream(lambda: system.client("commissioning"),
                             reviews=commands // 3 - first.reviews)
        await rest.run()
        await system.settle_publication(timeout=300)
        backlog = await lag(bootstrap)
        phases.done(f"backlog of {backlog} records built")

        # The consumers start again, held back before their first commit (they would catch up
        # before the next request otherwise). Meanwhile the panel answers at once: ready, and
        # plainly not knowing the review yet.
        held = await HeldBack.hold(fresh_database)
        try:
            for service in ("panel", "oversight"):
                await system.start(service)
            last_review = rest.review_ids[-1]
            started = time.monotonic()
            unknown = await system.client("panel").get(f"/panels/{last_review}")
            answered_in = time.monotonic() - started
            readiness = await system.client("panel").get("/readyz")
        finally:
            await held.release()
        caught_up_from = time.monotonic()
        await system.settle(timeout=900)
        catch_up_seconds = time.monotonic() - caught_up_from
        phases.done(f"caught up ({backlog / catch_up_seconds:.0f} records/s)")
        known = await system.client("panel").get(f"/panels/{last_review}")
        report = await system.check()
    finally:
        await system.close()

    assert backlog > commands, f"only {backlog} records behind"
    assert unknown.status_code == 404, unknown.text
    assert unknown.headers["content-type"] == "application/problem+json"
    assert last_review in unknown.json()["detail"]
    assert answered_in < FAST_SECONDS
    assert readiness.status_code == 200, readiness.text
    assert known.status_code == 200, known.text
    reviews = first.reviews + rest.reviews
    assert_consistent(report, reviews=reviews)
