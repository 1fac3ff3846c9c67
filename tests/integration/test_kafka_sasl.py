"""Kafka behind SASL/SCRAM-SHA-512, as the DHR_KAFKA_* settings configure it: a broker of our own
whose client listener takes SCRAM logins only. The commissioning service runs on it (topics
created by its admin client, a notification consumed by its faststream broker, the events
published by its outbox relay), the oversight readers (aiokafka, and librdkafka for the ledger
rebuild) and the dead-letter tool read through it, and a wrong password stops the service at
start with an error that says so, without the password in it or in the logs."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from commissioning_support import NOW, notification
from pydantic import SecretStr

from dhr_commissioning.__main__ import build_app, build_runtime
from dhr_commissioning.config import CommissioningSettings
from dhr_commissioning.consumers import INTAKE_CONSUMER, review_id_for
from dhr_contracts.topics import COMMISSIONING_EVENTS, INTAKE_NOTIFICATIONS, dead_letter_topic
from dhr_local.kafka import LocalKafka
from dhr_local.process import free_port
from dhr_oversight.history import scan_topics
from dhr_oversight.rebuild_reader import read_all
from dhr_platform import dead_letters
from dhr_platform.kafka import KafkaAccessError, KafkaConnection, safe_producer, start_client
from dhr_platform.service import ServiceRuntime
from support.apps import serving
from support.kafka import eventually
from support.tokens import REVIEW_MANAGER_NORFOLK, TestIssuer

SERVICE_USER, SERVICE_PASSWORD = "dhr-commissioning", "scram-password-of-commissioning"
AGENCY_USER, AGENCY_PASSWORD = "norfolk-constabulary-intake", "scram-password-of-the-agency"
WRONG_PASSWORD = "not-the-password-7f3a"


@pytest.fixture(scope="module")
def scram_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    reserved = frozenset({9092, 9093})
    ports: set[int] = set()
    for _ in range(3):
        ports.add(free_port(avoid=reserved | ports))
    port, controller_port, internal_port = sorted(ports)
    kafka = LocalKafka(tmp_path_factory.mktemp("scram-kafka"), port=port,
                       controller_port=controller_port, internal_port=internal_port,
                       scram_users={SERVICE_USER: SERVICE_PASSWORD, AGENCY_USER: AGENCY_PASSWORD})
    try:
        kafka.start()
        kafka.wait_ready(timeout=180)
        yield kafka
    finally:
        kafka.stop()


def scram_settings(scram_kafka: LocalKafka, database_url: str, password_file: Path,
                   token_issuer: TestIssuer) -> CommissioningSettings:
    return CommissioningSettings(
        database_url=database_url, kafka_bootstrap=scram_kafka.bootstrap, environment="test",
        kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username=SERVICE_USER, kafka_sasl_password_file=password_file,
        consumer_initial_backoff_seconds=0.01, **token_issuer.settings())


@dataclass
class ScramCommissioning:
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    settings: CommissioningSettings


@pytest.fixture
async def commissioning_on_scram(scram_kafka: LocalKafka, fresh_database: str, tmp_path: Path,
                                 token_issuer: TestIssuer) -> AsyncIterator[ScramCommissioning]:
    password_file = tmp_path / "password"  # as the KafkaUser's Secret is mounted
    password_file.write_text(SERVICE_PASSWORD)
    settings = scram_settings(scram_kafka, fresh_database, password_file, token_issuer)
    runtime = build_runtime(settings, clock=lambda: NOW)
    app = build_app(settings, clock=lambda: NOW, runtime=runtime)
    async with serving(app, "commissioning", token_issuer.headers(REVIEW_MANAGER_NORFOLK)) as client:
        yield ScramCommissioning(client, runtime, settings)


def agency_connection(scram_kafka: LocalKafka, password: str) -> KafkaConnection:
    """How an agency's case system, a KafkaUser of its own, reaches the intake topic."""
    return KafkaConnection(scram_kafka.bootstrap, "SASL_PLAINTEXT", "SCRAM-SHA-512", AGENCY_USER,
                           SecretStr(password))


async def test_a_service_consumes_and_publishes_through_a_scram_listener(
        commissioning_on_scram: ScramCommissioning, scram_kafka: LocalKafka,
        tmp_path: Path) -> None:
    service = commissioning_on_scram
    message_id = str(uuid.uuid4())
    producer = safe_producer(agency_connection(scram_kafka, AGENCY_PASSWORD), "agency-system")
    await producer.start()
    try:
        await producer.send_and_wait(INTAKE_NOTIFICATIONS, json.dumps(notification()).encode(),
                                     key=b"police-case-7", headers=[("ce_id", message_id.encode())])
    finally:
        await producer.stop()
    review_id = str(review_id_for(message_id))
    kafka = service.runtime.kafka

    async def published() -> int:
        return len([record async for record in scan_topics(kafka, [COMMISSIONING_EVENTS])
                    if record.key == review_id.encode()])

    await eventually(published, timeout=60)  # consumed (faststream), stored, relayed
    ready = await service.client.get("/readyz")
    rebuilt = await read_all(kafka, (COMMISSIONING_EVENTS,), tmp_path, 1, lambda total: None,
                             lambda done: None)  # the ledger rebuild's librdkafka reader
    parked, _ = await dead_letters.read_dead_letters(
        kafka, "commissioning", [dead_letter_topic(INTAKE_NOTIFICATIONS)], [INTAKE_CONSUMER])

    assert ready.status_code == 200 and ready.json()["checks"]["kafka"] is True
    assert (await service.client.get(f"/reviews/{review_id}")).status_code == 200
    assert {review for share in rebuilt for _, review, _ in share.areas} == {review_id}
    assert sum(len(share) for share in rebuilt) == sum(share.records for share in rebuilt) >= 1
    assert parked == []


async def test_a_wrong_password_stops_the_service_at_start_saying_why(
        scram_kafka: LocalKafka, fresh_database: str, tmp_path: Path, token_issuer: TestIssuer,
        caplog: pytest.LogCaptureFixture) -> None:
    password_file = tmp_path / "password"
    password_file.write_text(WRONG_PASSWORD + "\n")
    settings = scram_settings(scram_kafka, fresh_database, password_file, token_issuer)
    runtime = build_runtime(settings, clock=lambda: NOW)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(KafkaAccessError) as refused:
        await runtime.start()
    await runtime.stop()

    message = str(refused.value)
    assert "refused the login" in message and "SaslAuthenticationFailed" in message
    assert f"SCRAM-SHA-512 as {SERVICE_USER}" in message
    assert "DHR_KAFKA_SASL_USERNAME" in message
    assert WRONG_PASSWORD not in message + repr(settings) + caplog.text
    assert "SASL_PLAINTEXT, SCRAM-SHA-512 as dhr-commissioning" in caplog.text  # the start line


async def test_an_agency_with_a_wrong_password_cannot_publish(scram_kafka: LocalKafka) -> None:
    connection = agency_connection(scram_kafka, WRONG_PASSWORD)
    producer = safe_producer(connection, "agency-system")

    with pytest.raises(KafkaAccessError, match=rf"as {AGENCY_USER}\): the broker refused the login"):
        await start_client(producer, connection)
