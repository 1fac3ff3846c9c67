"""`dhr check` on the running services finds nothing when nothing is wrong, and finds, names and
places each fault put there on purpose: a ledger row deleted, a duplicate event published, two
records of a stream swapped on a topic, an event missing from a topic, an effect applied twice."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiokafka import ConsumerRecord
from system_support import (
    LEDGER_TOPICS,
    SERVICES,
    CommandStream,
    Credentials,
    System,
    assert_consistent,
)

from dhr_contracts.commissioning import ChairAppointed, ReviewCommissioned
from dhr_contracts.panel import PanelChairRecorded
from dhr_contracts.topics import COMMISSIONING_EVENTS, PANEL_EVENTS
from dhr_local.kafka import LocalKafka
from dhr_oversight import cli
from dhr_oversight.check import StoreLocation, check_system
from dhr_oversight.config import OversightSettings
from dhr_platform.consistency import ConsistencyReport, Kind
from dhr_platform.kafka import safe_producer
from support.kafka import create_topics, headers_of, read_records, unique_topic

REVIEWS = 6


@dataclass
class Settled:
    system: System
    stream: CommandStream

    @property
    def database_url(self) -> str:
        return self.system.database_url

    @property
    def bootstrap(self) -> str:
        return self.system.bootstrap

    def settings(self) -> OversightSettings:
        settings = self.system.settings("oversight")
        assert isinstance(settings, OversightSettings)
        return settings

    async def check_with_commissioning_on(self, topic: str) -> ConsistencyReport:
        """The check, with the commissioning store's events looked for on `topic`."""
        return await check_system(self.settings(), [
            StoreLocation("commissioning", topic, self.database_url),
            StoreLocation("panel", PANEL_EVENTS, self.database_url)])


@pytest.fixture
async def settled(fresh_database: str, empty_private_kafka: LocalKafka,
                  credentials: Credentials) -> AsyncIterator[Settled]:
    """A few reviews through commissioning, panel and oversight, everything consumed."""
    system = System(fresh_database, empty_private_kafka.bootstrap, credentials)
    try:
        for service in SERVICES:
            await system.start(service)
        stream = CommandStream(lambda: system.client("commissioning"), reviews=REVIEWS)
        await stream.run()
        await system.settle(timeout=120)
        yield Settled(system, stream)
    finally:
        await system.close()


def run_dhr_check(settled: Settled, monkeypatch: pytest.MonkeyPatch,
                  capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`dhr check` as an operator runs it, configured by the environment."""
    monkeypatch.setenv("DHR_DATABASE_URL", settled.database_url)
    monkeypatch.setenv("DHR_KAFKA_BOOTSTRAP", settled.bootstrap)
    monkeypatch.setenv("DHR_OVERSIGHT_TOPICS", json.dumps(list(LEDGER_TOPICS)))
    capsys.readouterr()
    code = cli.main(["check"])
    return code, capsys.readouterr().out


async def all_records(bootstrap: str, topic: str) -> list[ConsumerRecord[Any, Any]]:
    records = await read_records(bootstrap, topic, expected=1_000_000, timeout=3)
    return sorted(records, key=lambda record: (record.partition, record.offset))


async def publish(bootstrap: str, topic: str, records: list[ConsumerRecord[Any, Any]],
                  headers: Callable[[ConsumerRecord[Any, Any]], list[tuple[str, bytes]]]
                  = lambda record: list(record.headers)) -> None:
    """Publish `records` in the order given, each to the partition it came from."""
    producer = safe_producer(bootstrap, "reliability-fault")
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait(topic, record.value, key=record.key,
                                         partition=record.partition, headers=headers(record))
    finally:
        await producer.stop()


async def copy_of_commissioning_topic(
    bootstrap: str, change: Callable[[list[ConsumerRecord[Any, Any]]], None]
) -> str:
    """A new topic holding the commissioning topic's records, changed by `change`."""
    records = await all_records(bootstrap, COMMISSIONING_EVENTS)
    change(records)
    topic = unique_topic("test.copy.commissioning.events")
    await create_topics(bootstrap, topic)
    await publish(bootstrap, topic, records)
    return topic


def of_type(records: list[ConsumerRecord[Any, Any]], event_type: str
            ) -> list[ConsumerRecord[Any, Any]]:
    return [record for record in records if headers_of(record)["ce_type"] == event_type]


def findings(report: ConsistencyReport, kind: Kind) -> list[str]:
    return [finding.detail for finding in report.findings if finding.kind is kind]


async def test_dhr_check_reports_the_running_system_consistent(
    settled: Settled, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = await asyncio.to_thread(run_dhr_check, settled, monkeypatch, capsys)

    assert code == 0, output
    assert f"checked {REVIEWS} reviews" in output
    assert output.rstrip().endswith("consistent: nothing lost, duplicated or out of order")
    assert_consistent(await settled.check_with_commissioning_on(COMMISSIONING_EVENTS), REVIEWS)


async def test_a_deleted_ledger_row_is_reported_lost_with_the_gap_it_leaves(
    settled: Settled, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    connection = await asyncpg.connect(settled.database_url)
    try:
        deleted = await connection.fetchrow(
            "DELETE FROM oversight.ledger WHERE index = 7 RETURNING event_id, review_id")
    finally:
        await connection.close()

    code, output = await asyncio.to_thread(run_dhr_check, settled, monkeypatch, capsys)
    print(output)

    assert code == 1, output
    assert f"review {deleted['review_id']}: lost 1" in output
    assert f"lost: event {deleted['event_id']} (" in output
    assert "is not in the ledger" in output
    assert "lost: the ledger has no entry at index 7: entries were removed" in output


async def test_a_duplicate_event_published_is_reported_duplicated_on_the_topic_and_in_the_ledger(
    settled: Settled,
) -> None:
    # A producer that wrapped the same stored event again under a new id: the ledger appends
    # it, since its id is new.
    [original, *_] = of_type(await all_records(settled.bootstrap, COMMISSIONING_EVENTS),
                             ChairAppointed.event_type)
    duplicate_id = str(uuid.uuid4())
    await publish(settled.bootstrap, COMMISSIONING_EVENTS, [original], headers=lambda record: [
        (name, duplicate_id.encode() if name == "ce_id" else value)
        for name, value in record.headers])
    await settled.system.settle(timeout=120)

    report = await settled.check_with_commissioning_on(COMMISSIONING_EVENTS)
    print(report.summary())

    headers = headers_of(original)
    stream, version = headers["ce_stream"], headers["ce_streamversion"]
    assert report.by_review().keys() == {headers["ce_subject"]}, report.summary()
    duplicated = findings(report, Kind.DUPLICATED)
    assert any(f"is on {COMMISSIONING_EVENTS} twice, as events {headers['ce_id']} and "
               f"{duplicate_id}" in detail for detail in duplicated), report.summary()
    assert any(f"{stream} version {version} is in the ledger twice, as events "
               f"{headers['ce_id']} and {duplicate_id}" in detail
               for detail in duplicated), report.summary()
    assert any(duplicate_id in detail and "but not in store commissioning" in detail
               for detail in findings(report, Kind.UNRECORDED)), report.summary()


async def test_two_records_of_a_stream_swapped_on_a_topic_are_reported_out_of_order(
    settled: Settled,
) -> None:
    swapped: list[ConsumerRecord[Any, Any]] = []

    def swap_two_of_one_stream(records: list[ConsumerRecord[Any, Any]]) -> None:
        [commissioned, *_] = of_type(records, ReviewCommissioned.event_type)
        stream = headers_of(commissioned)["ce_stream"]
        mine = [i for i, r in enumerate(records) if headers_of(r)["ce_stream"] == stream]
        first, second = mine[1], mine[2]  # EligibilityAssessed, then ReviewCommissioned
        records[first], records[second] = records[second], records[first]
        swapped.extend([records[second], records[first]])

    topic = await copy_of_commissioning_topic(settled.bootstrap, swap_two_of_one_stream)
    report = await settled.check_with_commissioning_on(topic)
    print(report.summary())

    moved_back = headers_of(swapped[0])
    assert report.kinds() == {Kind.OUT_OF_ORDER}, report.summary()
    [detail] = findings(report, Kind.OUT_OF_ORDER)
    assert detail.startswith(f"event {moved_back['ce_id']} ({moved_back['ce_stream']} version 2) "
                             f"comes after version 3 on {topic}")
    assert report.by_review().keys() == {moved_back["ce_subject"]}


async def test_an_event_missing_from_its_topic_is_reported_lost(settled: Settled) -> None:
    dropped: list[ConsumerRecord[Any, Any]] = []

    def drop_one(records: list[ConsumerRecord[Any, Any]]) -> None:
        dropped.append(records.pop(len(records) // 2))

    topic = await copy_of_commissioning_topic(settled.bootstrap, drop_one)
    report = await settled.check_with_commissioning_on(topic)
    print(report.summary())

    missing = headers_of(dropped[0])
    assert report.kinds() == {Kind.LOST}, report.summary()
    assert findings(report, Kind.LOST) == [
        f"event {missing['ce_id']} ({missing['ce_stream']} version {missing['ce_streamversion']})"
        f" is in store commissioning but not on {topic}"]
    assert report.counts(missing["ce_subject"])["lost"] == 1


async def test_an_effect_applied_twice_is_reported_duplicated(settled: Settled) -> None:
    # What a consumer without its inbox would do on a redelivery: react a second time.
    connection = await asyncpg.connect(settled.database_url)
    try:
        effect = await connection.fetchrow(
            """SELECT stream_id, type, data, metadata, metadata->>'causation_id' AS cause
                 FROM panel.events WHERE type = $1 LIMIT 1""", PanelChairRecorded.event_type)
        assert effect is not None
        await connection.execute(
            """INSERT INTO panel.events (stream_id, stream_version, event_id, type,
                                         schema_version, data, metadata)
               SELECT $1, max(stream_version) + 1, $2, $3, 1, $4, $5
                 FROM panel.events WHERE stream_id = $1""",
            effect["stream_id"], uuid.uuid4(), effect["type"], effect["data"], effect["metadata"])
    finally:
        await connection.close()
    await settled.system.settle(timeout=120)

    report = await settled.check_with_commissioning_on(COMMISSIONING_EVENTS)
    print(report.summary())

    assert report.kinds() == {Kind.DUPLICATED}, report.summary()
    assert findings(report, Kind.DUPLICATED) == [
        f"the effect of event {effect['cause']} was applied 2 times in store panel "
        f"({effect['type']})"]
