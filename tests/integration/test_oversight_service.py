"""The oversight service on the real Kafka and PostgreSQL: every event appended once, signed
checkpoints (on demand, every N events, and on the checkpoint topic), proofs that verify, the
review history and the timeliness statistics over HTTP."""

from __future__ import annotations

import base64
import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from aiokafka import AIOKafkaProducer

from dhr_contracts.envelope import Envelope
from dhr_contracts.topics import dead_letter_topic
from dhr_oversight.config import OversightSettings
from dhr_oversight.history import scan_topics
from dhr_oversight.ledger import (
    MerkleTree,
    NoteVerifier,
    leaf_hash,
    open_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from support.kafka import eventually

if TYPE_CHECKING:
    from conftest import RunningOversight

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def envelope(event_type: str, review_id: str, minutes: int, version: int = 1,
             **data: Any) -> Envelope:
    service = event_type.split(".")[1]
    return Envelope(
        id=uuid.uuid4(), source=f"/dhr/{service}", type=event_type, subject=review_id,
        time=START + timedelta(minutes=minutes), stream=f"{service}-{review_id}",
        streamversion=version, correlationid=uuid.uuid4(), actor="test",
        data={"review_id": review_id, **data},
    )


def notification(review_id: str, area: str = "Leeds", minutes: int = 0) -> Envelope:
    return envelope("dhr.commissioning.NotificationReceived.v1", review_id, minutes,
                    csp_area=area, decision_due_on="2025-04-01", victim_name="A. Person")


def commissioned(review_id: str, minutes: int = 10) -> Envelope:
    return envelope("dhr.commissioning.ReviewCommissioned.v1", review_id, minutes, 2,
                    decided_on="2025-03-20", completion_due_on="2025-09-20")


def member_added(review_id: str, minutes: int = 20) -> Envelope:
    return envelope("dhr.panel.MemberAdded.v1", review_id, minutes, agency="Police")


async def verifiers(oversight: RunningOversight) -> list[NoteVerifier]:
    response = await oversight.client.get("/keys")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return [NoteVerifier.from_vkey(line) for line in response.text.splitlines()]


async def issue_checkpoint(oversight: RunningOversight) -> tuple[int, bytes, str]:
    response = await oversight.client.post("/checkpoints", headers=oversight.operator)
    assert response.status_code in (200, 201), response.text
    checkpoint, _ = open_checkpoint(response.text, await verifiers(oversight))
    return checkpoint.size, checkpoint.root, response.text


async def test_every_event_is_appended_once_in_a_gap_free_order_even_when_redelivered(
        oversight: RunningOversight) -> None:
    commissioning_topic, panel_topic = oversight.settings.oversight_topics
    review = str(uuid.uuid4())
    first, second, third = notification(review), commissioned(review), member_added(review)
    await oversight.publish(commissioning_topic, first, second)
    await oversight.publish(panel_topic, third)
    await oversight.wait_for_ledger_size(3)
    # The same event again (same ce_id), on its topic and on another one; then a last event
    # behind the duplicates in the same partition, so that once it is in, they were handled.
    last = envelope("dhr.commissioning.HomeOfficeNotified.v1", review, 30, 3)
    await oversight.publish(commissioning_topic, first, last)
    await oversight.publish(panel_topic, second, member_added(review, 40))
    await oversight.wait_for_ledger_size(5)

    rows = await oversight.ledger_rows()
    assert [row["index"] for row in rows] == [0, 1, 2, 3, 4]
    assert len({row["event_id"] for row in rows}) == 5
    assert {row["event_id"] for row in rows} >= {first.id, second.id, third.id, last.id}
    for row in rows:
        assert row["leaf_hash"] == leaf_hash(row["leaf_data"])
        assert row["review_id"] == review
    area = await oversight.runtime.pool.fetchval(
        "SELECT csp_area FROM review_areas WHERE review_id = $1", review)
    assert area == "Leeds"


async def test_a_record_that_is_not_a_cloudevent_is_dead_lettered_and_not_appended(
        oversight: RunningOversight) -> None:
    topic = oversight.settings.oversight_topics[0]
    review = str(uuid.uuid4())
    producer_envelope = notification(review)
    producer = AIOKafkaProducer(bootstrap_servers=oversight.settings.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, key=review.encode(), value=b"{not json")
    finally:
        await producer.stop()
    await oversight.publish(topic, producer_envelope)
    await oversight.wait_for_ledger_size(1)

    async def dead_lettered() -> int:
        return len([r async for r in scan_topics(oversight.settings.kafka_bootstrap,
                                                 [dead_letter_topic(topic)])])

    await eventually(dead_lettered)
    assert await oversight.ledger_size() == 1


async def test_a_checkpoint_on_demand_is_a_signed_note_that_verifies_with_the_published_keys(
        oversight: RunningOversight) -> None:
    topic = oversight.settings.oversight_topics[0]
    review = str(uuid.uuid4())
    assert (await oversight.client.get("/checkpoints/latest")).status_code == 404
    await oversight.publish(topic, notification(review), commissioned(review))
    await oversight.wait_for_ledger_size(2)

    size, root, note = await issue_checkpoint(oversight)
    rows = await oversight.ledger_rows()
    assert size == 2
    assert root == MerkleTree.from_leaf_hashes(row["leaf_hash"] for row in rows).root()
    assert note.splitlines()[0] == oversight.settings.oversight_origin
    latest = await oversight.client.get("/checkpoints/latest")
    assert latest.text == note
    assert (await oversight.client.get("/checkpoints/2")).text == note
    again = await oversight.client.post("/checkpoints", headers=oversight.operator)
    assert (again.status_code, again.text) == (200, note)  # nothing new: the same checkpoint
    missing = await oversight.client.get("/checkpoints/7")
    assert missing.status_code == 404
    assert missing.json()["field"] == "size"

    async def on_the_checkpoint_topic() -> bool:
        origin = oversight.settings.oversight_origin.encode()
        notes = [record.value.decode() async for record in scan_topics(
            oversight.settings.kafka_bootstrap, [oversight.settings.oversight_checkpoint_topic])
            if record.key == origin]
        return note in notes

    await eventually(on_the_checkpoint_topic)


class TestEveryNEvents:
    @pytest.fixture
    def oversight_settings(self, oversight_settings: OversightSettings) -> OversightSettings:
        """A checkpoint at least every 3 events."""
        return oversight_settings.model_copy(update={"oversight_checkpoint_every_events": 3})

    async def test_a_checkpoint_is_issued_by_itself_once_n_events_have_been_appended(
            self, oversight: RunningOversight) -> None:
        topic = oversight.settings.oversight_topics[0]
        review = str(uuid.uuid4())

        async def latest_size() -> int | None:
            response = await oversight.client.get("/checkpoints/latest")
            if response.status_code != 200:
                return None
            checkpoint, _ = open_checkpoint(response.text, await verifiers(oversight))
            return checkpoint.size

        # The first checkpoint comes as soon as the ledger holds anything: one event, so that
        # no poll of the checkpointer can fall between two of them.
        await oversight.publish(topic, notification(review))
        await eventually(latest_size)
        assert await latest_size() == 1
        await oversight.publish(
            topic, commissioned(review), envelope("dhr.commissioning.HomeOfficeNotified.v1",
                                                  review, 30, 3),
            envelope("dhr.commissioning.ChairAppointed.v1", review, 40, 4))
        await oversight.wait_for_ledger_size(4)

        async def grown_by_three() -> bool:
            return await latest_size() == 4

        await eventually(grown_by_three)


async def test_inclusion_and_consistency_proofs_over_http_verify_against_the_checkpoints(
        oversight: RunningOversight) -> None:
    commissioning_topic, panel_topic = oversight.settings.oversight_topics
    review = str(uuid.uuid4())
    first, second = notification(review), commissioned(review)
    await oversight.publish(commissioning_topic, first, second)
    await oversight.wait_for_ledger_size(2)
    old_size, old_root, _ = await issue_checkpoint(oversight)
    others = [member_added(review, 20 + n) for n in range(5)]
    await oversight.publish(panel_topic, *others)
    await oversight.wait_for_ledger_size(7)
    new_size, new_root, _ = await issue_checkpoint(oversight)
    assert (old_size, new_size) == (2, 7)

    for event in [first, *others]:
        response = await oversight.client.get("/proofs/inclusion",
                                              params={"event_id": str(event.id)})
        assert response.status_code == 200, response.text
        body = response.json()
        data = base64.b64decode(body["leaf_data"])
        proof = [base64.b64decode(node) for node in body["proof"]]
        assert body["tree_size"] == new_size
        assert verify_inclusion(leaf_hash(data), body["index"], new_size, proof, new_root)
        assert Envelope.model_validate_json(data).id == event.id
    at_old = (await oversight.client.get(
        "/proofs/inclusion", params={"event_id": str(first.id), "size": old_size})).json()
    assert verify_inclusion(base64.b64decode(at_old["leaf_hash"]), at_old["index"], old_size,
                            [base64.b64decode(n) for n in at_old["proof"]], old_root)

    response = await oversight.client.get("/proofs/consistency",
                                          params={"from": old_size, "to": new_size})
    assert response.status_code == 200, response.text
    proof = [base64.b64decode(node) for node in response.json()["proof"]]
    assert verify_consistency(old_size, new_size, old_root, new_root, proof)
    assert not verify_consistency(old_size, new_size, old_root, old_root, proof)

    too_big = await oversight.client.get("/proofs/consistency", params={"from": 2, "to": 99})
    assert (too_big.status_code, too_big.json()["field"]) == (422, "to")
    unknown = await oversight.client.get("/proofs/inclusion",
                                         params={"event_id": str(uuid.uuid4())})
    assert (unknown.status_code, unknown.json()["field"]) == (404, "event_id")
    bad = await oversight.client.get("/proofs/inclusion", params={"event_id": "nope"})
    assert bad.status_code == 422


async def test_the_history_of_a_review_is_ordered_across_services_with_personal_fields_hidden(
        oversight: RunningOversight) -> None:
    commissioning_topic, panel_topic = oversight.settings.oversight_topics
    review, other = str(uuid.uuid4()), str(uuid.uuid4())
    # Published out of time order and across two topics.
    await oversight.publish(panel_topic, member_added(review, 20))
    await oversight.publish(commissioning_topic, commissioned(review, 10), notification(other),
                            notification(review, minutes=0))
    await oversight.wait_for_ledger_size(4)

    response = await oversight.client.get(f"/reviews/{review}/history")
    assert response.status_code == 200
    history = response.json()
    assert [event["description"] for event in history["events"]] == [
        "Notification received", "Review commissioned", "Member added"]
    assert history["services"] == ["commissioning", "panel"]
    assert history["events"][0]["data"]["victim_name"] == "[personal]"
    shown = (await oversight.client.get(f"/reviews/{review}/history",
                                        params={"show_personal": "true"})).json()
    assert shown["events"][0]["data"]["victim_name"] == "A. Person"
    assert (await oversight.client.get(f"/reviews/{uuid.uuid4()}/history")).status_code == 404


async def test_timeliness_statistics_are_served_as_json_and_csv(
        oversight: RunningOversight) -> None:
    topic = oversight.settings.oversight_topics[0]
    leeds, york = str(uuid.uuid4()), str(uuid.uuid4())
    await oversight.publish(topic, notification(leeds, "Leeds"), commissioned(leeds),
                            notification(york, "York"))
    await oversight.wait_for_ledger_size(3)

    report = (await oversight.client.get("/statistics/timeliness")).json()
    assert [row["area"] for row in report["areas"]] == ["Leeds", "York"]
    assert report["national"]["reviews_notified"] == 2
    assert report["areas"][0]["decisions_within_due"] == 1
    only_york = (await oversight.client.get("/statistics/timeliness",
                                            params={"area": "York"})).json()
    assert [row["area"] for row in only_york["areas"]] == ["York"]
    response = await oversight.client.get("/statistics/timeliness", params={"format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(response.text)))
    assert [line["area"] for line in lines] == ["Leeds", "York", "national"]
    assert (await oversight.client.get("/statistics/timeliness",
                                       params={"format": "xml"})).status_code == 422
    # The national statistics of historic reviews are served beside them (none imported here).
    assert (await oversight.client.get("/statistics/national")).status_code == 200
