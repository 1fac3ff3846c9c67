"""The Merkle tree over the ledger, and signed checkpoints: issued every N events or T seconds
and on demand, stored, and published on the checkpoint topic for oversight bodies."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaProducer

from dhr_oversight import storage
from dhr_oversight.config import OversightSettings
from dhr_oversight.keys import SigningKeys
from dhr_oversight.ledger import Checkpoint, MerkleTree
from dhr_oversight.storage import StoredCheckpoint
from dhr_platform.database import Connection
from dhr_platform.kafka import safe_producer, start_client
from dhr_platform.service import ServiceRuntime, every

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# One issuer at a time (across replicas too), so two checkpoints never race for one size.
ISSUE_LOCK = int.from_bytes(hashlib.sha256(b"dhr-oversight-checkpoint-issue").digest()[:8], "big",
                            signed=True)


def utc_now() -> datetime:
    return datetime.now(UTC)


class LedgerTree:
    """The Merkle tree of the ledger's committed entries, kept in memory.

    Only committed rows enter it, read back in index order (`sync`): appends happen inside
    consumer transactions that may still roll back, so the appender never touches the tree.
    """

    def __init__(self) -> None:
        self.tree = MerkleTree()
        self._lock = asyncio.Lock()

    async def sync(self, connection: Connection) -> MerkleTree:
        """Bring the tree up to the ledger table's end and return it."""
        async with self._lock:
            leaves = await storage.leaf_hashes_from(connection, self.tree.size)
            if self.tree.size == 0:
                self.tree = MerkleTree.from_leaf_hashes(leaves)  # at start: in one go
            else:
                for leaf in leaves:
                    self.tree.append(leaf)
            return self.tree


class Checkpointer:
    """Signs and stores checkpoints of the ledger tree, and publishes them."""

    def __init__(self, tree: LedgerTree, keys: SigningKeys, settings: OversightSettings,
                 clock: Clock = utc_now):
        self.tree = tree
        self.keys = keys
        self.settings = settings
        self.clock = clock
        self.producer: AIOKafkaProducer | None = None

    async def issue(self, pool: asyncpg.Pool, *, only_if_due: bool = False) -> StoredCheckpoint | None:
        """Sign a checkpoint of the whole tree as it stands (or return the one of that size).

        With `only_if_due`, sign only when N events or T seconds have passed since the last.
        """
        async with pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", ISSUE_LOCK)
            tree = await self.tree.sync(connection)
            size = tree.size
            latest = await storage.latest_checkpoint(connection)
            if latest is not None and latest.size > size:
                raise RuntimeError(f"the ledger holds {size} entries but a checkpoint of size "
                                   f"{latest.size} was issued: was it truncated?")
            if latest is not None and latest.size == size:
                return latest
            if only_if_due and not self._due(latest, size):
                return None
            root = tree.root(size)
            note = self.keys.signer.sign(
                Checkpoint(self.settings.oversight_origin, size, root, time=self.clock()))
            await storage.store_checkpoint(connection, size, root, note)
            log.info("checkpoint issued: size %d", size)
            return await storage.checkpoint_of_size(connection, size)

    def _due(self, latest: StoredCheckpoint | None, size: int) -> bool:
        if latest is None:
            return size > 0
        grown = size - latest.size
        if grown <= 0:
            return False
        elapsed = (self.clock() - latest.issued_at).total_seconds()
        return (grown >= self.settings.oversight_checkpoint_every_events
                or elapsed >= self.settings.oversight_checkpoint_every_seconds)

    async def publish_pending(self, pool: asyncpg.Pool) -> int:
        """Publish every stored checkpoint not yet on the topic (key: origin; value: the note)."""
        if self.producer is None:
            return 0
        async with pool.acquire() as connection:
            pending = await storage.unpublished_checkpoints(connection)
            for checkpoint in pending:
                await self.producer.send_and_wait(
                    self.settings.oversight_checkpoint_topic,
                    key=self.settings.oversight_origin.encode(),
                    value=checkpoint.note.encode(),
                )
                await storage.mark_published(connection, checkpoint.size)
        return len(pending)

    async def round(self, runtime: ServiceRuntime) -> None:
        """One pass of the background task: issue when due, publish what is pending."""
        await self.issue(runtime.pool, only_if_due=True)
        await self.publish_pending(runtime.pool)

    async def run(self, runtime: ServiceRuntime) -> None:
        """The background task: a producer for the checkpoint topic, and a round every poll."""
        producer = safe_producer(runtime.kafka, "dhr-oversight-checkpoints")
        await start_client(producer, runtime.kafka)
        self.producer = producer
        try:
            await every(self.settings.oversight_checkpoint_poll_seconds, self.round)(runtime)
        finally:
            self.producer = None
            await producer.stop()
