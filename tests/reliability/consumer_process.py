"""A consumer (ConsumerRuntime) as a process of its own, so that a reliability test can SIGKILL it.

    python consumer_process.py DATABASE_URL SCHEMA BOOTSTRAP TOPIC GROUP [--die-after-messages N]

Applies every message of TOPIC to the `effects` table (one row per application, no unique key,
so a second application would show) until SIGTERM. Each delivery is also noted in `deliveries`,
outside the effect's transaction, with whether it was applied or refused by the inbox: evidence
that a redelivery happened and was deduplicated. With `--die-after-messages N` it kills itself with
SIGKILL right after the Nth effect committed and before its offset is committed to Kafka.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

import asyncpg

from dhr_platform.consumers import ConsumerRuntime, Delivery, Effect, safe_broker
from dhr_platform.database import create_pool


async def record_effect(connection: asyncpg.Connection, delivery: Delivery) -> None:
    await connection.execute("INSERT INTO effects (message_id) VALUES ($1)", delivery.message_id)


class ObservedConsumerRuntime(ConsumerRuntime):
    """Notes every delivery's outcome, and can crash between the effect's commit and the ack."""

    def __init__(self, *args: object, die_after_messages: int | None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.die_after_messages = die_after_messages
        self.committed_effects = 0

    async def _apply_once(self, consumer: str, delivery: Delivery, effect: Effect) -> bool:
        applied = await super()._apply_once(consumer, delivery, effect)
        # Counted at once, before any await: records of different keys are applied concurrently.
        self.committed_effects += applied
        if applied and self.committed_effects == self.die_after_messages:
            # The effect and its inbox row are committed; the batch's offsets are not.
            os.kill(os.getpid(), signal.SIGKILL)
        await self.pool.execute(
            "INSERT INTO deliveries (message_id, applied) VALUES ($1, $2)",
            delivery.message_id, applied,
        )
        return applied


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("database_url")
    parser.add_argument("schema")
    parser.add_argument("bootstrap")
    parser.add_argument("topic")
    parser.add_argument("group")
    parser.add_argument("--die-after-messages", type=int, default=None)
    arguments = parser.parse_args()

    pool = await create_pool(arguments.database_url, arguments.schema, max_size=4)
    broker = safe_broker(arguments.bootstrap, "reliability-consumer")
    runtime = ObservedConsumerRuntime(broker, pool, die_after_messages=arguments.die_after_messages)
    runtime.subscribe(arguments.topic, arguments.group, record_effect)
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    await broker.start()
    try:
        await stopping.wait()
    finally:
        await broker.stop()
        await pool.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(main())
