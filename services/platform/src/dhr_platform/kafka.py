"""Kafka wiring: producers with safe settings, and idempotent topic creation."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

log = logging.getLogger(__name__)

# The topics are the permanent history from which any review can be rebuilt (DESIGN §6).
PERMANENT_TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1", "min.insync.replicas": "1"}


def safe_producer(bootstrap: str, client_id: str, **overrides: object) -> AIOKafkaProducer:
    """A producer that neither loses nor duplicates on retry (the client defaults are weaker)."""
    settings: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "client_id": client_id,
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 5,
        "request_timeout_ms": 15_000,
        "retry_backoff_ms": 200,
    }
    settings.update(overrides)
    return AIOKafkaProducer(**settings)


async def ensure_topics(
    bootstrap: str,
    topics: Iterable[str],
    *,
    partitions: int,
    replication_factor: int,
    config: dict[str, str] | None = None,
) -> None:
    """Create the topics that do not exist yet; existing ones are left alone."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="dhr-topic-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name=topic,
                num_partitions=partitions,
                replication_factor=replication_factor,
                topic_configs=dict(config or PERMANENT_TOPIC_CONFIG),
            )
            for topic in dict.fromkeys(topics)
            if topic not in existing
        ]
        if not wanted:
            return
        response = await admin.create_topics(wanted)
        for name, code, *rest in response.topic_errors:
            # 36 is TOPIC_ALREADY_EXISTS: another replica created it first.
            if code not in (0, TopicAlreadyExistsError.errno):
                raise RuntimeError(f"could not create topic {name}: error {code} {rest}")
        log.info("created topics %s", [topic.name for topic in wanted])
    finally:
        await admin.close()


async def kafka_reachable(bootstrap: str) -> bool:
    """A real metadata round trip, for readiness."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="dhr-readiness",
                                request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.describe_cluster()
        return True
    except Exception:
        return False
    finally:
        await admin.close()
