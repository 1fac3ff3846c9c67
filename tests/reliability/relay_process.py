"""The outbox relay as a process of its own, so that a reliability test can SIGKILL it.

    python relay_process.py DATABASE_URL SCHEMA BOOTSTRAP TOPIC BATCH_SIZE [--die-after-batches N]

Publishes until SIGTERM. With `--die-after-batches N` it kills itself with SIGKILL on its Nth
batch after Kafka acknowledged the batch and before the cursor is saved: the one window where a
crash must lead to the batch being published again, never to its loss.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

from dhr_platform.database import create_pool
from dhr_platform.kafka import safe_producer
from dhr_platform.outbox import OutboxRelay, RelayCursor

RELAY_NAME = "reliability"
SOURCE = "/dhr/reliability"


class RelayThatDiesBeforeSavingItsCursor(OutboxRelay):
    """A relay that crashes, as a power cut would, between Kafka's ack and the cursor save."""

    def __init__(self, *args: object, die_after_batches: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.die_after_batches = die_after_batches
        self.batches = 0

    async def _save(self, cursor: RelayCursor) -> None:
        # The relay saves only after the whole batch was acknowledged; dying here therefore
        # leaves a batch that is on the topic but not behind the cursor.
        self.batches += 1
        if self.batches == self.die_after_batches:
            os.kill(os.getpid(), signal.SIGKILL)
        await super()._save(cursor)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("database_url")
    parser.add_argument("schema")
    parser.add_argument("bootstrap")
    parser.add_argument("topic")
    parser.add_argument("batch_size", type=int)
    parser.add_argument("--die-after-batches", type=int, default=None)
    arguments = parser.parse_args()

    pool = await create_pool(arguments.database_url, arguments.schema, max_size=4)
    options = {
        "name": RELAY_NAME,
        "topic": arguments.topic,
        "source": SOURCE,
        "batch_size": arguments.batch_size,
        "idle_poll_seconds": 0.02,
        "max_backoff_seconds": 1.0,
    }

    def producer():  # type: ignore[no-untyped-def]
        return safe_producer(arguments.bootstrap, "reliability-relay")

    relay = (
        OutboxRelay(pool, producer, **options)  # type: ignore[arg-type]
        if arguments.die_after_batches is None
        else RelayThatDiesBeforeSavingItsCursor(
            pool, producer, die_after_batches=arguments.die_after_batches, **options
        )
    )
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, relay.stop)
    try:
        await relay.run()
    finally:
        await pool.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(main())
