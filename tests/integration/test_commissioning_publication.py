"""From the panel's agreed report to publication, on the real broker and database: the panel's
event consumed from its topic, then sign-off, Home Office quality assurance cycles, publication
and a checksummed copy to the Domestic Abuse Commissioner over HTTP."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from commissioning_support import RunningService, notification

from dhr_commissioning.consumers import PANEL_CONSUMER
from dhr_contracts.envelope import Envelope
from dhr_contracts.panel import ReviewReportAgreed
from dhr_contracts.topics import COMMISSIONING_EVENTS, PANEL_EVENTS, dead_letter_topic
from support.kafka import eventually, headers_of, is_access_event, read_records

REPORT = b"%PDF-1.7 anonymised overview report, version 3"
CHECKSUM = hashlib.sha256(REPORT).hexdigest()


async def notified_and_commissioned(service: RunningService, **overrides: Any) -> str:
    response = await service.client.post("/reviews", json=notification(**overrides))
    assert response.status_code == 201, response.text
    review_id = response.json()["review_id"]
    response = await service.client.post(
        f"/reviews/{review_id}/decision-to-commission",
        json={"decided_on": "2026-03-01", "rationale": "Statutory criteria met."})
    assert response.status_code == 200, response.text
    return review_id


def panel_envelope(review_id: str, *, event_id: uuid.UUID | None = None,
                   event_type: str = ReviewReportAgreed.event_type,
                   data: dict[str, Any] | None = None) -> Envelope:
    if data is None:
        data = ReviewReportAgreed(
            review_id=uuid.UUID(review_id), agreed_on="2026-03-02", report_version=3,
            recommendations=[
                {"number": 1, "text": "Norfolk Constabulary to train call handlers in coercive "
                 "control by 31 December 2026.", "addressee_agencies": ["Norfolk Constabulary"],
                 "level": "local"},
                {"number": 2, "text": "The ICB to add routine enquiry to GP templates by June "
                 "2027.", "addressee_agencies": ["Norfolk and Waveney ICB"], "level": "regional"},
            ]).model_dump(mode="json")
    return Envelope(id=event_id or uuid.uuid4(), source="/dhr/panel", type=event_type,
                    subject=review_id, time=datetime(2026, 3, 2, 16, 0, tzinfo=UTC),
                    stream=f"panel-{review_id}", streamversion=12,
                    correlationid=uuid.uuid4(), actor="chair:alex", data=data)


async def publish_on_panel_topic(bootstrap: str, *envelopes: Envelope) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for envelope in envelopes:
            await producer.send_and_wait(PANEL_EVENTS, envelope.kafka_value(),
                                         key=envelope.subject.encode(),
                                         headers=envelope.kafka_headers())
    finally:
        await producer.stop()


async def post(service: RunningService, review_id: str, path: str, body: dict[str, Any],
               expected: int = 200) -> dict[str, Any]:
    response = await service.client.post(f"/reviews/{review_id}/{path}", json=body)
    assert response.status_code == expected, response.text
    return response.json()


async def review(service: RunningService, review_id: str) -> dict[str, Any]:
    response = await service.client.get(f"/reviews/{review_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def inbox_ids(service: RunningService) -> set[str]:
    rows = await service.runtime.pool.fetch(
        "SELECT message_id FROM inbox WHERE consumer = $1", PANEL_CONSUMER)
    return {row["message_id"] for row in rows}


async def test_a_review_goes_from_the_panels_agreed_report_to_publication_and_a_delivery(
    commissioning: RunningService, kafka_bootstrap: str,
) -> None:
    review_id = await notified_and_commissioned(commissioning)
    agreed = panel_envelope(review_id)

    await publish_on_panel_topic(kafka_bootstrap, agreed)

    async def report_recorded() -> bool:
        return (await review(commissioning, review_id))["status"] == "report_agreed"

    await eventually(report_recorded, timeout=60)
    view = await review(commissioning, review_id)
    assert view["report"] == {"report_version": 3, "agreed_on": "2026-03-02",
                              "recommendation_count": 2}
    events_before = await commissioning.event_count()

    # Redelivered as is (the inbox skips it), republished under a new id (the decider records
    # a version once), and a panel event of no interest: none changes anything.
    again, other = panel_envelope(review_id), panel_envelope(
        review_id, event_type="dhr.panel.MeetingHeld.v1", data={"review_id": review_id})
    again = again.model_copy(update={"data": agreed.data})
    await publish_on_panel_topic(kafka_bootstrap, agreed, again, other)

    async def all_consumed() -> bool:
        # The event of no interest is passed over without a transaction, so without an inbox row.
        consumers = commissioning.runtime.consumers
        assert consumers is not None
        return str(again.id) in await inbox_ids(commissioning) and consumers.passed_over >= 1

    await eventually(all_consumed, timeout=60)
    assert await commissioning.event_count() == events_before
    assert (await review(commissioning, review_id))["version"] == view["version"]

    # Completion is still due (and late) until the report is published.
    late = await commissioning.client.get("/reviews?overdue=true&as_of=2026-09-02")
    assert review_id in {item["review_id"] for item in late.json()["items"]}

    await post(commissioning, review_id, "sign-off",
               {"signed_off_on": "2026-03-03", "signed_off_by": "Chair of Norfolk CSP"})
    await post(commissioning, review_id, "home-office-submissions", {"submitted_on": "2026-03-04"})
    areas = ["The action plan gives no completion dates.",
             "The family's contribution is missing from the findings."]
    await post(commissioning, review_id, "home-office-submissions/1/outcome",
               {"decided_on": "2026-03-20", "outcome": "changes_required",
                "areas_for_development": areas})
    assert (await review(commissioning, review_id))["status"] == "changes_required"
    resubmitted = await post(commissioning, review_id, "home-office-submissions",
                             {"submitted_on": "2026-03-25"})
    assert resubmitted["events"] == ["dhr.commissioning.ReportSubmittedToHomeOffice.v1"]
    await post(commissioning, review_id, "home-office-submissions/2/outcome",
               {"decided_on": "2026-04-10", "outcome": "approved_for_publication"})
    await post(commissioning, review_id, "publication",
               {"published_on": "2026-04-20", "anonymised": True,
                "location": "https://www.norfolk.gov.uk/dhr/2026-01"})
    delivered = await post(commissioning, review_id, "deliveries",
                           {"recipient": "domestic_abuse_commissioner",
                            "delivered_on": "2026-04-21", "document_version": 3,
                            "sha256": CHECKSUM})
    assert delivered["events"] == ["dhr.commissioning.ReportDelivered.v1"]

    view = await review(commissioning, review_id)
    assert view["status"] == "published"
    assert view["sign_off"] == {"report_version": 3, "signed_off_on": "2026-03-03",
                                "signed_off_by": "Chair of Norfolk CSP"}
    assert view["home_office_submissions"] == [
        {"submission_number": 1, "submitted_on": "2026-03-04", "report_version": 3,
         "resubmission": False, "outcome": "changes_required", "decided_on": "2026-03-20",
         "areas_for_development": areas},
        {"submission_number": 2, "submitted_on": "2026-03-25", "report_version": 3,
         "resubmission": True, "outcome": "approved_for_publication",
         "decided_on": "2026-04-10", "areas_for_development": []},
    ]
    assert view["publication"] == {"published_on": "2026-04-20", "report_version": 3,
                                   "location": "https://www.norfolk.gov.uk/dhr/2026-01"}
    assert view["deliveries"] == [{"recipient": "domestic_abuse_commissioner",
                                   "delivered_on": "2026-04-21", "document_version": 3,
                                   "sha256": CHECKSUM}]
    assert view["deadlines"]["overdue"] == []
    published = await commissioning.client.get("/reviews?status=published&overdue=false"
                                               "&as_of=2026-09-02")
    assert {item["review_id"] for item in published.json()["items"]} == {review_id}

    expected_types = [f"dhr.commissioning.{name}.v1" for name in (
        "NotificationReceived", "EligibilityAssessed", "ReviewCommissioned",
        "ReportAgreementRecorded", "ReportSignedOff", "ReportSubmittedToHomeOffice",
        "QualityAssuranceOutcomeRecorded", "ReportSubmittedToHomeOffice",
        "QualityAssuranceOutcomeRecorded", "ReportPublished", "ReportDelivered")]

    async def published_in_order() -> list[str]:
        records = await read_records(kafka_bootstrap, COMMISSIONING_EVENTS, expected=100_000,
                                     timeout=1)
        mine = [r for r in records if r.key == review_id.encode() and not is_access_event(r)]
        return [headers_of(r)["ce_type"] for r in mine]  # one partition per key: in order

    await eventually(lambda: _equals(published_in_order, expected_types), timeout=30)
    records = await read_records(kafka_bootstrap, COMMISSIONING_EVENTS, expected=100_000, timeout=1)
    recorded = next(r for r in records if r.key == review_id.encode()
                    and headers_of(r)["ce_type"].endswith("ReportAgreementRecorded.v1"))
    assert headers_of(recorded)["ce_causationid"] == str(agreed.id)
    assert json.loads(recorded.value)["panel_event_id"] == str(agreed.id)


async def _equals(fetch, expected) -> bool:  # type: ignore[no-untyped-def]
    return await fetch() == expected


async def test_a_report_agreed_for_an_unknown_review_is_dead_lettered(
    commissioning: RunningService, kafka_bootstrap: str,
) -> None:
    unknown = panel_envelope(str(uuid.uuid4()))

    await publish_on_panel_topic(kafka_bootstrap, unknown)

    async def parked() -> list[dict[str, str]]:
        records = await read_records(kafka_bootstrap, dead_letter_topic(PANEL_EVENTS),
                                     expected=100_000, timeout=1)
        return [headers_of(r) for r in records if headers_of(r).get("ce_id") == str(unknown.id)]

    await eventually(parked, timeout=60)
    headers = (await parked())[0]
    assert headers["dlq_consumer"] == PANEL_CONSUMER
    assert headers["dlq_error_type"] == "PermanentFailure"
    assert "review_id" in headers["dlq_error_message"]
    assert await commissioning.event_count() == 0


async def test_bad_input_is_a_422_naming_the_field_and_stores_nothing(
    commissioning: RunningService, kafka_bootstrap: str,
) -> None:
    review_id = await notified_and_commissioned(commissioning)

    refused = await post(commissioning, review_id, "sign-off",
                         {"signed_off_on": "2026-03-03", "signed_off_by": "CSP chair"}, 409)
    assert refused["field"] == "report"
    assert "agreed" in refused["detail"]

    await publish_on_panel_topic(kafka_bootstrap, panel_envelope(review_id))

    async def report_recorded() -> bool:
        return (await review(commissioning, review_id))["status"] == "report_agreed"

    await eventually(report_recorded, timeout=60)
    await post(commissioning, review_id, "sign-off",
               {"signed_off_on": "2026-03-03", "signed_off_by": "CSP chair"})
    await post(commissioning, review_id, "home-office-submissions", {"submitted_on": "2026-03-04"})
    stored = await commissioning.event_count()

    async def problem(path: str, body: dict[str, Any], status: int = 422) -> dict[str, Any]:
        response = await commissioning.client.post(f"/reviews/{review_id}/{path}", json=body)
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        return response.json()

    def named(answer: dict[str, Any]) -> set[str]:
        return {answer.get("field")} | {e["field"] for e in answer.get("errors", [])}

    no_areas = await problem("home-office-submissions/1/outcome",
                             {"decided_on": "2026-03-20", "outcome": "changes_required",
                              "areas_for_development": []})
    assert "areas_for_development" in named(no_areas)
    unknown_outcome = await problem("home-office-submissions/1/outcome",
                                    {"decided_on": "2026-03-20", "outcome": "fine"})
    assert "outcome" in named(unknown_outcome)
    no_such_submission = await problem("home-office-submissions/2/outcome",
                                       {"decided_on": "2026-03-20",
                                        "outcome": "approved_for_publication"}, 404)
    assert no_such_submission["field"] == "submission_number"
    early = await problem("publication", {"published_on": "2026-04-20", "anonymised": True,
                                          "location": "https://example.org/dhr"}, 409)
    assert early["field"] == "home_office_submissions"

    await post(commissioning, review_id, "home-office-submissions/1/outcome",
               {"decided_on": "2026-04-10", "outcome": "approved_for_publication"})
    stored = await commissioning.event_count()

    not_anonymised = await problem("publication", {"published_on": "2026-04-20",
                                                   "anonymised": False,
                                                   "location": "https://example.org/dhr"})
    assert not_anonymised["field"] == "anonymised"
    assert "anonymised" in not_anonymised["detail"]
    before_publication = await problem("deliveries", {
        "recipient": "domestic_abuse_commissioner", "delivered_on": "2026-04-21",
        "document_version": 3, "sha256": CHECKSUM}, 409)
    assert before_publication["field"] == "publication"
    await post(commissioning, review_id, "publication",
               {"published_on": "2026-04-20", "anonymised": True,
                "location": "https://example.org/dhr"})
    stored = await commissioning.event_count()

    bad_checksum = await problem("deliveries", {
        "recipient": "domestic_abuse_commissioner", "delivered_on": "2026-04-21",
        "document_version": 3, "sha256": "not-a-checksum"})
    assert "sha256" in named(bad_checksum)
    short_checksum = await problem("deliveries", {
        "recipient": "secretary_of_state", "delivered_on": "2026-04-21",
        "document_version": 3, "sha256": CHECKSUM[:63]})
    assert "sha256" in named(short_checksum)
    unknown_recipient = await problem("deliveries", {
        "recipient": "the_press", "delivered_on": "2026-04-21", "document_version": 3,
        "sha256": CHECKSUM})
    assert "recipient" in named(unknown_recipient)
    wrong_version = await problem("deliveries", {
        "recipient": "domestic_abuse_commissioner", "delivered_on": "2026-04-21",
        "document_version": 2, "sha256": CHECKSUM})
    assert wrong_version["field"] == "document_version"

    assert await commissioning.event_count() == stored
    assert (await review(commissioning, review_id))["deliveries"] == []
