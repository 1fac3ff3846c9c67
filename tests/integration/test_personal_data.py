"""Personal data sealed with the review's data key in the store, read models, idempotent replies
and on Kafka; opened only for allowed callers who state a purpose, each such read recorded as an
access event; and erased everywhere by destroying the key (crypto-shredding)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
from commissioning_support import RunningService, notification

from dhr_contracts.topics import COMMISSIONING_EVENTS, PANEL_EVENTS
from dhr_platform.app import rebuild_read_models
from dhr_platform.envelopes import to_envelope
from support.database import database_rows
from support.kafka import read_records
from support.tokens import ADMIN, OVERSIGHT

VICTIM = "Jane Quillfeather-Oduya"
SUSPECT = "Marcus Pellingrove"
CHAIR = "Dr Ottoline Brackenbury"
SECRETS = (VICTIM, SUSPECT, CHAIR)


async def notified_review(commissioning: RunningService, key: str | None = None) -> str:
    headers = {"Idempotency-Key": key} if key else None
    response = await commissioning.client.post(
        "/reviews", json=notification(victim_name=VICTIM, suspect_name=SUSPECT), headers=headers)
    assert response.status_code == 201, response.text
    review_id: str = response.json()["review_id"]
    decided = await commissioning.client.post(
        f"/reviews/{review_id}/decision-to-commission",
        json={"decided_on": "2026-03-01", "rationale": "Statutory criteria met."})
    assert decided.status_code == 200, decided.text
    chair = await commissioning.client.post(f"/reviews/{review_id}/chair", json={
        "appointed_on": "2026-03-02", "chair_name": CHAIR, "chair_subject": "chair-alex",
        "declaration": {"line_management_of_involved_agency": False,
                        "service_delivery_for_involved_agency": False}})
    assert chair.status_code == 200, chair.text
    return review_id


async def stored_for(database: str, schema: str, review_id: str) -> int:
    """How many events of one review (of its streams and its access stream) a service stored."""
    connection = await asyncpg.connect(database)
    try:
        return int(await connection.fetchval(
            f"SELECT count(*) FROM {schema}.events WHERE metadata->>'subject' = $1", review_id))
    finally:
        await connection.close()


async def records_of(bootstrap: str, topic: str, review_id: str, expected: int) -> list[Any]:
    """The records of one review on a topic, read from the beginning until `expected` came."""
    return await read_records(bootstrap, topic, expected=expected, key=review_id.encode())


def history_data(response: Any) -> str:
    assert response.status_code == 200, response.text
    return json.dumps([event["data"] for event in response.json()["events"]], ensure_ascii=False)


async def test_personal_values_are_sealed_at_rest_and_on_kafka_and_opened_for_a_stated_purpose(
    commissioning: RunningService, fresh_database: str, kafka_bootstrap: str,
) -> None:
    review_id = await notified_review(commissioning, key=str(uuid.uuid4()))

    at_rest = "\n".join(await database_rows(fresh_database, "commissioning"))
    assert "dhr-sealed:v1:" in at_rest
    for secret in SECRETS:
        assert secret not in at_rest  # events, read model and idempotent replies
    stored = await stored_for(fresh_database, "commissioning", review_id)
    records = await records_of(kafka_bootstrap, COMMISSIONING_EVENTS, review_id, stored)
    assert len(records) == stored >= 3
    for record in records:
        for secret in SECRETS:
            assert secret.encode() not in record.value
            assert all(secret.encode() not in value for _, value in record.headers)
    keyed = [dict(record.headers) for record in records if b"dhr-sealed:v1:" in record.value]
    assert len(keyed) == 2  # the notification and the Chair's appointment
    assert all("ce_datakeyid" in headers for headers in keyed)

    opened = history_data(await commissioning.client.get(f"/reviews/{review_id}/events"))
    assert VICTIM in opened and CHAIR in opened and "dhr-sealed" not in opened
    view = (await commissioning.client.get(f"/reviews/{review_id}")).json()
    assert view["chair"]["name"] == CHAIR

    tokens = commissioning.tokens
    request = commissioning.client.build_request("GET", f"/reviews/{review_id}/events")
    del request.headers["DHR-Purpose"]  # the client sends one by default
    no_purpose = history_data(await commissioning.client.send(request))
    oversight = history_data(await commissioning.client.get(
        f"/reviews/{review_id}/events", headers=tokens.headers(OVERSIGHT)))
    granted = history_data(await commissioning.client.get(
        f"/reviews/{review_id}/events", headers=tokens.headers(OVERSIGHT, personal_data=True,
                                                                purpose="oversight-audit")))
    for masked in (no_purpose, oversight):
        assert VICTIM not in masked and "dhr-sealed" not in masked
        assert "[withheld]" in masked
    assert VICTIM in granted

    # Who read what, when and why: one access event per disclosing read, none for the others.
    store = commissioning.runtime.store
    access = await store.read_stream(f"access-{review_id}")
    assert [event.type for event in access] == ["dhr.commissioning.RestrictedMaterialRead.v1"] * 3
    assert [event.metadata["actor"] for event in access] == ["rm-norfolk", "rm-norfolk",
                                                             "ho-reader"]
    assert [event.data["purpose"] for event in access] == ["review-work", "review-work",
                                                           "oversight-audit"]
    assert access[0].data["resource"] == "GET /reviews/{review_id}/events"
    assert access[0].data["values_disclosed"] == 3
    assert access[0].data["material"] == ["personal_data"]
    published = await records_of(kafka_bootstrap, COMMISSIONING_EVENTS, review_id, stored + 3)
    assert sum(1 for record in published
               if dict(record.headers)["ce_type"].endswith(b".RestrictedMaterialRead.v1")) == 3


async def test_a_sealed_value_sent_in_is_refused_and_nothing_is_stored(
    commissioning: RunningService,
) -> None:
    forged = "dhr-sealed:v1:" + "0" * 32 + ":" + "A" * 40
    response = await commissioning.client.post("/reviews", json=notification(victim_name=forged))

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await commissioning.event_count() == 0


async def test_erasing_a_review_makes_its_personal_data_read_as_erased_everywhere_for_good(
    commissioning: RunningService, panel: Any, fresh_database: str, kafka_bootstrap: str,
) -> None:
    review_id = await notified_review(commissioning)
    other_review = await notified_review(commissioning)
    # The panel recorded the Chair from the commissioning event: sealed with the same key.
    for _ in range(100):
        shown = await panel.client.get(f"/panels/{review_id}")
        if shown.status_code == 200 and shown.json().get("chair"):
            break
        await asyncio.sleep(0.1)
    assert shown.json()["chair"]["name"] == CHAIR

    admin = commissioning.tokens.headers(ADMIN)
    refused = await commissioning.client.post(f"/reviews/{review_id}/personal-data-erasure",
                                              json={"reason": "Erasure request DPO-17 upheld."})
    assert refused.status_code == 403  # a review manager may not erase
    erased = await commissioning.client.post(f"/reviews/{review_id}/personal-data-erasure",
                                             json={"reason": "Erasure request DPO-17 upheld."},
                                             headers=admin)
    assert erased.status_code == 200, erased.text
    assert erased.json()["events"] == ["dhr.commissioning.PersonalDataErased.v1"]
    again = await commissioning.client.post(f"/reviews/{review_id}/personal-data-erasure",
                                            json={"reason": "Twice."}, headers=admin)
    assert again.status_code == 409

    history = history_data(await commissioning.client.get(f"/reviews/{review_id}/events"))
    assert VICTIM not in history and "[erased]" in history and "DPO-17" in history
    assert (await panel.client.get(f"/panels/{review_id}")).json()["chair"]["name"] == "[erased]"
    # Another review keeps its own key.
    assert VICTIM in history_data(
        await commissioning.client.get(f"/reviews/{other_review}/events"))

    # Nothing personal can be recorded for the review again.
    new_chair = await commissioning.client.post(f"/reviews/{review_id}/chair", json={
        "appointed_on": "2026-03-03", "chair_name": "Someone Else", "replacement_reason": "ill",
        "declaration": {"line_management_of_involved_agency": False,
                        "service_delivery_for_involved_agency": False}})
    assert new_chair.status_code == 409, new_chair.text
    assert new_chair.json()["title"] == "Personal data erased"

    # Read models rebuilt from scratch, and the topic read from the beginning: still erased.
    spec = commissioning.runtime.spec
    await rebuild_read_models(spec, commissioning.runtime.settings)
    view = (await commissioning.client.get(f"/reviews/{review_id}")).json()
    assert view["chair"]["name"] == "[erased]"
    assert view["personal_data_erased_on"] == "2026-03-02"
    connection = await asyncpg.connect(fresh_database)
    try:
        key = await connection.fetchrow(
            "SELECT key_id, wrapped_key, erased_by, erasure_reason FROM keyring.data_keys"
            " WHERE review_id = $1", review_id)
    finally:
        await connection.close()
    assert key["wrapped_key"] is None
    assert key["erased_by"] == "ops-admin"
    records = await records_of(kafka_bootstrap, COMMISSIONING_EVENTS, review_id,
                               await stored_for(fresh_database, "commissioning", review_id))
    sealed_with = {dict(record.headers).get("ce_datakeyid") for record in records} - {None}
    assert sealed_with == {str(key["key_id"]).encode()}  # no key left that opens them
    panel_records = await records_of(kafka_bootstrap, PANEL_EVENTS, review_id, expected=1)
    assert all(CHAIR.encode() not in record.value for record in panel_records)


async def test_reads_of_imr_material_need_a_purpose_and_are_each_recorded(
    commissioning: RunningService, panel: Any,
) -> None:
    review_id = await notified_review(commissioning)
    for _ in range(100):
        if (await panel.client.get(f"/panels/{review_id}")).status_code == 200:
            break
        await asyncio.sleep(0.1)

    request = panel.client.build_request("GET", f"/panels/{review_id}/requests")
    del request.headers["DHR-Purpose"]
    refused = await panel.client.send(request)
    read = await panel.client.get(f"/panels/{review_id}/requests")

    assert refused.status_code == 400, refused.text
    assert refused.json()["field"] == "DHR-Purpose"
    assert read.status_code == 200, read.text
    access = await panel.runtime.store.read_stream(f"access-{review_id}")
    imr_reads = [event.data for event in access if "imr" in event.data["material"]]
    assert len(imr_reads) == 1
    assert imr_reads[0]["resource"] == "GET /panels/{review_id}/requests"
    assert imr_reads[0]["purpose"] == "review-work"


async def test_after_erasure_the_ledger_export_still_verifies_and_holds_no_plaintext(
    commissioning: RunningService, oversight: Any, dhr: Any, tmp_path: Any,
) -> None:
    review_id = await notified_review(commissioning)
    # What the relay published for the review, as the oversight ledger consumes it.
    stored = [event for event in await commissioning.runtime.store.read_all(0, 10_000)
              if event.metadata["subject"] == review_id]
    topic = oversight.settings.oversight_topics[0]
    await oversight.publish(topic, *(to_envelope(event, "/dhr/commissioning") for event in stored))
    await oversight.wait_for_ledger_size(len(stored))
    assert (await oversight.client.post("/checkpoints", headers=oversight.operator)).status_code == 201

    erased = await commissioning.client.post(
        f"/reviews/{review_id}/personal-data-erasure", json={"reason": "Erasure request upheld."},
        headers=commissioning.tokens.headers(ADMIN))
    assert erased.status_code == 200, erased.text

    bundle = tmp_path / "bundle"
    exported, said = await dhr("export", "--review", review_id, "--out", str(bundle))
    assert exported == 0, said
    verified, said = await dhr("verify", str(bundle))

    assert verified == 0, said
    assert f"OK: {len(stored)} events verified" in said
    exported_bytes = b"".join(path.read_bytes() for path in bundle.iterdir())
    assert b"dhr-sealed:v1:" in exported_bytes
    assert all(secret.encode() not in exported_bytes for secret in SECRETS)
