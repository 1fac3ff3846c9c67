"""SIGTERM to a real service process under load: it stops taking work, finishes what is in
flight, publishes everything committed, commits its consumers' offsets and exits 0 promptly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from dhr_commissioning.consumers import INTAKE_CONSUMER, review_id_for
from dhr_contracts.topics import COMMISSIONING_EVENTS, INTAKE_NOTIFICATIONS
from dhr_local.process import free_port
from support.tokens import REVIEW_MANAGER_NORFOLK, TestIssuer

WORKERS = 12
LOAD_BEFORE_SIGNAL_SECONDS = 2.0
INTAKE_MESSAGES = 10


@dataclass
class Answer:
    started: float
    finished: float
    status: int | None  # None: no answer (refused, or the connection closed)
    review_id: str | None = None


def notification() -> dict[str, Any]:
    return {"notifying_agency": "Norfolk Constabulary", "date_of_death": "2026-02-10",
            "csp_learned_on": "2026-02-12", "csp_area": "Norfolk", "victim_age": 34,
            "suspect_relationship": "current_intimate_partner", "circumstances": "homicide",
            "prior_agency_contact": "yes"}


def start_service(database_url: str, kafka_bootstrap: str, port: int, log: Path,
                  issuer: TestIssuer) -> subprocess.Popen[bytes]:
    auth = issuer.settings()
    env = dict(os.environ, DHR_AUTH_ISSUER=auth["auth_issuer"],
               DHR_AUTH_AUDIENCE=auth["auth_audience"], DHR_AUTH_JWKS_FILE=str(auth["auth_jwks_file"]),
               DHR_ENVIRONMENT="test", DHR_DATABASE_URL=database_url,
               DHR_KAFKA_BOOTSTRAP=kafka_bootstrap, DHR_HTTP_PORT=str(port),
               DHR_LOG_FORMAT="json",
               # One event per Kafka round trip: a backlog builds up that the shutdown must flush.
               DHR_RELAY_BATCH_SIZE="1", DHR_SHUTDOWN_DRAIN_SECONDS="60")
    with log.open("ab") as output:
        return subprocess.Popen([sys.executable, "-m", "dhr_commissioning", "serve"],
                                env=env, stdin=subprocess.DEVNULL, stdout=output,
                                stderr=subprocess.STDOUT)


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


async def wait_ready(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, tail(log)
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"the service did not become ready: {tail(log)}")


async def keep_commanding(base_url: str, answers: list[Answer], headers: dict[str, str]) -> None:
    """POST notifications one after another on one connection until the service stops
    answering."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60, headers=headers) as client:
        while True:
            started = time.monotonic()
            try:
                response = await client.post("/reviews", json=notification())
            except httpx.TransportError:
                answers.append(Answer(started, time.monotonic(), None))
                return
            review_id = response.json().get("review_id") if response.status_code == 201 else None
            answers.append(Answer(started, time.monotonic(), response.status_code, review_id))
            if response.status_code != 201:
                return


async def publish_intake(bootstrap: str) -> dict[str, tuple[int, int]]:
    """Agency notifications on the intake topic: message id -> (partition, offset)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    sent: dict[str, tuple[int, int]] = {}
    try:
        for _ in range(INTAKE_MESSAGES):
            message_id = str(uuid.uuid4())
            metadata = await producer.send_and_wait(
                INTAKE_NOTIFICATIONS, json.dumps(notification()).encode(),
                key=message_id.encode(), headers=[("ce_id", message_id.encode())])
            sent[message_id] = (metadata.partition, metadata.offset)
    finally:
        await producer.stop()
    return sent


async def event_ids_on_kafka(bootstrap: str, topic: str) -> set[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = [TopicPartition(topic, p)
                          for p in consumer.partitions_for_topic(topic) or ()]
        ends = await consumer.end_offsets(partitions)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen: set[str] = set()

        async def behind() -> bool:
            return any([await consumer.position(p) < ends[p] for p in partitions])

        while await behind():
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    headers = dict(record.headers)
                    if "ce_id" in headers:
                        seen.add(headers["ce_id"].decode())
        return seen
    finally:
        await consumer.stop()


async def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


async def test_sigterm_finishes_in_flight_commands_flushes_the_outbox_and_exits_zero(
    fresh_database: str, kafka_bootstrap: str, tmp_path: Path, token_issuer: TestIssuer
) -> None:
    manager = token_issuer.headers(REVIEW_MANAGER_NORFOLK)
    port = free_port(avoid=frozenset({9092, 9093, 55432, 8001, 8002, 8003, 8004, 8005}))
    base_url = f"http://127.0.0.1:{port}"
    log = tmp_path / "commissioning.log"
    process = start_service(fresh_database, kafka_bootstrap, port, log, token_issuer)
    try:
        await wait_ready(base_url, process, log)
        answers: list[Answer] = []
        workers = [asyncio.create_task(keep_commanding(base_url, answers, manager))
                   for _ in range(WORKERS)]
        intake = await publish_intake(kafka_bootstrap)
        await asyncio.sleep(LOAD_BEFORE_SIGNAL_SECONDS)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)

        await asyncio.sleep(0.5)
        try:  # a new connection once shutdown began is refused (or told 503)
            async with httpx.AsyncClient(base_url=base_url, timeout=5, headers=manager) as late:
                late_status: int | None = (await late.post("/reviews", json=notification())
                                           ).status_code
        except httpx.TransportError:
            late_status = None
        assert late_status in (None, 503)

        code = await asyncio.to_thread(process.wait, 60)
        stopped_after = time.monotonic() - signalled
        await asyncio.wait_for(asyncio.gather(*workers), 30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    output = log.read_text(errors="replace")
    assert code == 0, output[-4000:]
    assert stopped_after < 30, f"took {stopped_after:.1f}s to stop"

    accepted = [answer for answer in answers if answer.status == 201]
    assert accepted, "no command was accepted"
    in_flight = [answer for answer in accepted if answer.started < signalled < answer.finished]
    assert in_flight, "no command was in flight at SIGTERM"
    assert all(answer.status in (201, None) for answer in answers), \
        {answer.status for answer in answers}

    database = await asyncpg.connect(fresh_database, server_settings={"search_path": "commissioning"})
    try:
        streams = await database.fetch(
            "SELECT stream_id, array_agg(type ORDER BY stream_version) AS types"
            " FROM events GROUP BY stream_id")
        event_ids = {str(row["event_id"]) for row in await database.fetch("SELECT event_id FROM events")}
        reviews = {str(row["review_id"]) for row in await database.fetch("SELECT review_id FROM reviews")}
        cursor = await database.fetchrow("SELECT tx_id::text AS tx_id, global_position"
                                         " FROM relay_cursor WHERE relay = 'commissioning'")
        unpublished = await database.fetchval(
            "SELECT count(*) FROM events WHERE (tx_id, global_position) > ($1::text::xid8, $2)",
            cursor["tx_id"], cursor["global_position"])
    finally:
        await database.close()

    # Nothing half-applied: each review has both of its events and its read-model row.
    assert {tuple(row["types"]) for row in streams} == {
        ("dhr.commissioning.NotificationReceived.v1", "dhr.commissioning.EligibilityAssessed.v1")}
    assert len(reviews) == len(streams)
    # Every accepted command's events were recorded and published before the process ended.
    assert {answer.review_id for answer in accepted} <= reviews
    assert unpublished == 0
    assert event_ids <= await event_ids_on_kafka(kafka_bootstrap, COMMISSIONING_EVENTS)
    # An intake notification was applied exactly when its offset was committed.
    committed = await committed_offsets(kafka_bootstrap, INTAKE_CONSUMER, INTAKE_NOTIFICATIONS)
    for message_id, (partition, offset) in intake.items():
        applied = str(review_id_for(message_id)) in reviews
        assert applied == (offset < committed.get(partition, -1)), (message_id, partition, offset)
    assert any(str(review_id_for(message_id)) in reviews for message_id in intake)

    lines = [line for line in output.splitlines() if line.strip()]
    not_json = [line for line in lines if not _is_json_object(line)]
    assert not not_json, not_json[:5]  # the service logs one JSON object per line
    entries = [json.loads(line) for line in lines]
    assert all(entry["service"] == "dhr-commissioning" for entry in entries)
    access = [entry for entry in entries if entry["logger"] == "dhr_platform.access"]
    assert len(access) >= len(accepted)
    # Without an OTLP endpoint spans are not exported, but their ids still reach the logs.
    assert all(len(entry["trace_id"]) == 32 and len(entry["span_id"]) == 16 for entry in access)


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False
