"""One review from notification to publication across commissioning, panel and learning, on the
real Kafka broker and PostgreSQL server, the services talking only through Kafka; each step
taken by the person (or system) whose job it is, with their own bearer token."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from dhr_commissioning.__main__ import build_app as build_commissioning_app
from dhr_commissioning.__main__ import build_runtime as build_commissioning_runtime
from dhr_commissioning.config import CommissioningSettings
from dhr_contracts.topics import COMMISSIONING_EVENTS, LEARNING_EVENTS, PANEL_EVENTS
from dhr_learning.__main__ import build_app as build_learning_app
from dhr_learning.__main__ import build_runtime as build_learning_runtime
from dhr_learning.config import LearningSettings
from dhr_panel.__main__ import build_app as build_panel_app
from dhr_panel.__main__ import build_runtime as build_panel_runtime
from dhr_panel.config import PanelSettings
from support.apps import serving
from support.kafka import eventually, headers_of, is_access_event, read_records
from support.tokens import CHAIR, REVIEW_MANAGER_NORFOLK, TestIssuer

POLICE, HEALTH, WOMENS_AID = "Norfolk Constabulary", "Norfolk ICB", "Leeway Domestic Abuse Services"
CHECKSUM = "9f2c4e0b5d3a1f6e8c7b0a9d2e4f6a8b1c3d5e7f9a0b2c4d6e8f0a1b3c5d7e9f"


class Clock:
    """One clock for the three services, moved forward as the review goes on."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, day: str) -> None:
        self.now = datetime.fromisoformat(f"{day}T10:00:00+00:00")


@dataclass
class System:
    commissioning: httpx.AsyncClient
    panel: httpx.AsyncClient
    learning: httpx.AsyncClient
    clock: Clock
    tokens: TestIssuer

    def as_(self, who: tuple[str, str, str]) -> dict[str, str]:
        return self.tokens.headers(who)


@pytest.fixture
async def system(fresh_database: str, kafka_bootstrap: str,
                 token_issuer: TestIssuer) -> AsyncIterator[System]:
    """The three services in one database (a schema each), as in production. Their clients act
    as the Norfolk review manager unless a step says who else takes it."""
    common = {"database_url": fresh_database, "kafka_bootstrap": kafka_bootstrap,
              "environment": "test", "consumer_initial_backoff_seconds": 0.01,
              "relay_idle_poll_seconds": 0.02, **token_issuer.settings()}
    clock = Clock(datetime(2026, 2, 13, 10, tzinfo=UTC))
    commissioning_settings = CommissioningSettings(**common)
    panel_settings = PanelSettings(**common, panel_deadline_check_seconds=3600)
    learning_settings = LearningSettings(**common)
    commissioning_app = build_commissioning_app(
        commissioning_settings, clock=clock,
        runtime=build_commissioning_runtime(commissioning_settings, clock=clock))
    panel_app = build_panel_app(panel_settings, clock=clock,
                                runtime=build_panel_runtime(panel_settings, clock=clock))
    learning_app = build_learning_app(learning_settings, clock=clock,
                                      runtime=build_learning_runtime(learning_settings))
    manager = token_issuer.headers(REVIEW_MANAGER_NORFOLK)
    async with serving(commissioning_app, "commissioning", manager) as commissioning, \
            serving(panel_app, "panel", manager) as panel, \
            serving(learning_app, "learning", manager) as learning:
        yield System(commissioning, panel, learning, clock, token_issuer)


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any],
               status: int | tuple[int, ...] = (200, 201),
               as_: dict[str, str] | None = None) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=as_)
    expected = (status,) if isinstance(status, int) else status
    assert response.status_code in expected, f"{path}: {response.status_code} {response.text}"
    return dict(response.json())


async def review_events_on(bootstrap: str, topic: str, review_id: str) -> list[dict[str, Any]]:
    """The review's records on a topic in offset order (one partition per key), each event once;
    not the records of who read it (access events share its key)."""
    records = await read_records(bootstrap, topic, expected=1_000_000, timeout=3)
    mine = sorted((r for r in records if r.key == review_id.encode() and not is_access_event(r)),
                  key=lambda r: (r.partition, r.offset))
    seen: set[str] = set()
    events = []
    for record in mine:
        headers = headers_of(record)
        if headers["ce_id"] in seen:
            continue  # at-least-once publication: a republished event is the same event
        seen.add(headers["ce_id"])
        events.append({**headers, "data": json.loads(record.value)})
    return events


async def test_a_review_goes_from_notification_to_publication_across_the_services(
    system: System, kafka_bootstrap: str
) -> None:
    commissioning, panel, learning, clock = (system.commissioning, system.panel, system.learning,
                                             system.clock)
    police_system = system.as_(("agency_system", POLICE, "police-case-system"))
    the_chair = system.as_(CHAIR)
    # --- commissioning: notification (by the police case system), decision, Chair ----------
    notified = await post(commissioning, "/reviews", {
        "notifying_agency": POLICE, "date_of_death": "2026-02-10", "csp_learned_on": "2026-02-12",
        "csp_area": "Norfolk", "victim_age": 34, "suspect_relationship": "former_intimate_partner",
        "circumstances": "homicide", "prior_agency_contact": "yes"}, 201, police_system)
    review_id = notified["review_id"]
    clock.set("2026-02-20")
    await post(commissioning, f"/reviews/{review_id}/decision-to-commission",
               {"decided_on": "2026-02-20", "rationale": "Statutory criteria met."})
    await post(commissioning, f"/reviews/{review_id}/home-office-notification",
               {"notified_on": "2026-02-21"})
    await post(commissioning, f"/reviews/{review_id}/chair", {
        "appointed_on": "2026-02-25", "chair_name": "Alex Chair", "chair_subject": CHAIR[2],
        "declaration": {"line_management_of_involved_agency": False,
                        "service_delivery_for_involved_agency": False}})

    # --- panel: opened from Kafka and run by the Chair; an IMR submitted by the police -------
    async def panel_knows_the_chair() -> bool:
        response = await panel.get(f"/panels/{review_id}", headers=the_chair)
        return response.status_code == 200 and response.json()["chair"] is not None

    await eventually(panel_knows_the_chair, timeout=60)
    panel.headers.update(the_chair)
    clock.set("2026-03-01")
    for agency, sector in ((POLICE, "police"), (HEALTH, "health"),
                           (WOMENS_AID, "specialist_domestic_abuse_service")):
        await post(panel, f"/panels/{review_id}/members",
                   {"joined_on": "2026-03-01", "agency": agency, "sector": sector,
                    "role": "panel_member"})
    clock.set("2026-03-05")
    await post(panel, f"/panels/{review_id}/terms-of-reference", {
        "issued_on": "2026-03-05", "period_from": "2021-01-01", "period_to": "2026-02-10",
        "lines_of_enquiry": ["What did agencies know of the abuse?"], "family_consulted": True})
    imr = await post(panel, f"/panels/{review_id}/requests", {
        "kind": "imr", "agency": POLICE, "requested_on": "2026-03-05", "due_on": "2026-04-05"}, 201)
    meetings = f"/panels/{review_id}/meetings"
    first = await post(panel, meetings, {"scheduled_for": "2026-03-10",
                                         "agenda": ["Terms of reference"]}, 201)
    second = await post(panel, meetings, {"scheduled_for": "2026-04-15",
                                          "agenda": ["Individual management reviews"]}, 201)
    clock.set("2026-03-10")
    await post(panel, f"{meetings}/{first['meeting_id']}/held", {
        "held_on": "2026-03-10", "attended": [POLICE, HEALTH, WOMENS_AID], "chair_present": True})

    # --- family: declined, then agreed on re-approach ----------------------------------------
    family = f"/panels/{review_id}/family"
    clock.set("2026-03-12")
    person = await post(panel, f"{family}/people", {
        "recorded_on": "2026-03-12", "name": "Pat Parent", "relationship": "parent"}, 201)
    person_id = person["person_id"]
    await post(panel, f"{family}/people/{person_id}/approaches", {
        "approached_on": "2026-03-12", "channel": "letter", "outcome": "declined"})
    clock.set("2026-04-01")
    await post(panel, f"/panels/{review_id}/requests/{imr['request_id']}/submission",
               {"submitted_on": "2026-04-01"}, as_=police_system)
    clock.set("2026-04-15")
    await post(panel, f"{meetings}/{second['meeting_id']}/held", {
        "held_on": "2026-04-15", "attended": [POLICE, HEALTH, WOMENS_AID], "chair_present": True})
    clock.set("2026-05-01")
    await post(panel, f"{family}/people/{person_id}/approaches", {
        "approached_on": "2026-05-01", "channel": "via_advocate", "outcome": "agreed"})
    clock.set("2026-05-10")
    await post(panel, f"{family}/people/{person_id}/contributions", {
        "contributed_on": "2026-05-10", "kind": "interview",
        "summary": "Described how isolated the victim had become."})

    # --- learning: known from Kafka, its Chair too; a blame-free learning event they run -----
    learning.headers.update(the_chair)

    async def learning_knows_it_is_commissioned() -> bool:
        # Known from the notification first: wait for the commissioning as well.
        response = await learning.get(f"/reviews/{review_id}/learning")
        return response.status_code == 200 and bool(response.json()["review"]["commissioned_on"])

    await eventually(learning_knows_it_is_commissioned, timeout=60)
    clock.set("2026-05-20")
    base = f"/reviews/{review_id}/learning-events"
    planned = await post(learning, base, {
        "planned_on": "2026-05-20", "facilitator_name": "Sam Facilitator", "format": "in_person",
        "invited_agencies": [POLICE, HEALTH]}, 201)
    for agency in (POLICE, HEALTH):  # each agency itself
        await post(learning, f"{base}/{planned['id']}/ground-rules-acknowledgements",
                   {"agency": agency}, as_=system.as_(("agency_lead", agency, f"lead-{agency}")))
    await post(learning, f"{base}/{planned['id']}/held",
               {"held_on": "2026-05-20", "participating_agencies": [POLICE, HEALTH]})
    await post(learning, f"{base}/{planned['id']}/contributions", {
        "agency": POLICE, "contributed_on": "2026-05-20",
        "text": "Call handlers could not see earlier call-outs to the address."}, 201)
    await post(learning, f"/reviews/{review_id}/learning-points", {
        "recorded_on": "2026-05-21", "summary": "Earlier call-outs must be visible to call handlers.",
        "themes": ["identification_of_risk", "technology_systems"], "tags": ["call handling"],
        "learning_event_id": planned["id"]}, 201)

    # --- the report agreed by the panel --------------------------------------------------------
    clock.set("2026-06-01")
    await post(panel, f"/panels/{review_id}/report-drafts", {
        "shared_on": "2026-06-01", "summary": "Agencies' contact with the victim, 2021 to 2026.",
        "recommendations": [{
            "level": "local", "addressee_agencies": [POLICE],
            "text": "Norfolk Constabulary to show earlier call-outs to call handlers by March 2027."}]})
    clock.set("2026-06-15")
    await post(panel, f"/panels/{review_id}/report-agreement",
               {"agreed_on": "2026-06-15", "report_version": 1})

    # --- commissioning: from agreed report to publication -----------------------------------
    async def report_recorded() -> bool:
        review = (await commissioning.get(f"/reviews/{review_id}")).json()
        return review["status"] == "report_agreed"

    await eventually(report_recorded, timeout=60)
    clock.set("2026-06-20")
    await post(commissioning, f"/reviews/{review_id}/sign-off",
               {"signed_off_on": "2026-06-20", "signed_off_by": "Chair of Norfolk CSP"})
    await post(commissioning, f"/reviews/{review_id}/home-office-submissions",
               {"submitted_on": "2026-06-22"})
    clock.set("2026-07-10")
    await post(commissioning, f"/reviews/{review_id}/home-office-submissions/1/outcome", {
        "decided_on": "2026-07-10", "outcome": "changes_required",
        "areas_for_development": ["The action plan gives no completion dates."]})
    clock.set("2026-07-20")
    await post(commissioning, f"/reviews/{review_id}/home-office-submissions",
               {"submitted_on": "2026-07-20"})
    clock.set("2026-08-01")
    await post(commissioning, f"/reviews/{review_id}/home-office-submissions/2/outcome",
               {"decided_on": "2026-08-01", "outcome": "approved_for_publication"})
    clock.set("2026-08-10")
    await post(commissioning, f"/reviews/{review_id}/publication", {
        "published_on": "2026-08-10", "anonymised": True,
        "location": "https://www.norfolk.gov.uk/dhr/2026-01"})
    await post(commissioning, f"/reviews/{review_id}/deliveries", {
        "recipient": "domestic_abuse_commissioner", "delivered_on": "2026-08-11",
        "document_version": 1, "sha256": CHECKSUM})

    # --- each service's view at the end ---------------------------------------------------------
    review = (await commissioning.get(f"/reviews/{review_id}")).json()
    assert review["status"] == "published"
    assert review["chair"]["name"] == "Alex Chair"
    assert [s["outcome"] for s in review["home_office_submissions"]] == [
        "changes_required", "approved_for_publication"]
    assert review["publication"]["location"] == "https://www.norfolk.gov.uk/dhr/2026-01"
    assert len(review["deliveries"]) == 1

    panel_view = (await panel.get(f"/panels/{review_id}")).json()
    assert panel_view["report"]["agreed"]["report_version"] == 1
    family_view = (await panel.get(family)).json()
    assert [a["outcome"] for a in family_view["approaches"]] == ["declined", "agreed"]
    assert family_view["process_facts"]["family_contributed"] is True

    async def learning_knows_the_report() -> bool:  # from the panel topic, in its own time
        view = (await learning.get(f"/reviews/{review_id}/learning")).json()
        return bool(view["review"]["report_agreed_on"] == "2026-06-15")

    await eventually(learning_knows_the_report, timeout=60)
    learning_view = (await learning.get(f"/reviews/{review_id}/learning")).json()
    assert learning_view["learning_events"][0]["status"] == "held"
    themed = (await learning.get("/learning-points?theme=identification_of_risk&area=Norfolk")).json()
    assert themed["total"] == 1

    # --- the order of the review's events on Kafka ----------------------------------------------
    async def published_everything() -> bool:
        events = await review_events_on(kafka_bootstrap, COMMISSIONING_EVENTS, review_id)
        return bool(events) and events[-1]["ce_type"].endswith("ReportDelivered.v1")

    await eventually(published_everything, timeout=60)
    on_commissioning = await review_events_on(kafka_bootstrap, COMMISSIONING_EVENTS, review_id)
    on_panel = await review_events_on(kafka_bootstrap, PANEL_EVENTS, review_id)
    on_learning = await review_events_on(kafka_bootstrap, LEARNING_EVENTS, review_id)

    assert [e["ce_type"].split(".")[2] for e in on_commissioning] == [
        "NotificationReceived", "EligibilityAssessed", "ReviewCommissioned", "HomeOfficeNotified",
        "ChairAppointed", "ReportAgreementRecorded", "ReportSignedOff",
        "ReportSubmittedToHomeOffice", "QualityAssuranceOutcomeRecorded",
        "ReportSubmittedToHomeOffice", "QualityAssuranceOutcomeRecorded", "ReportPublished",
        "ReportDelivered"]
    history = (await commissioning.get(f"/reviews/{review_id}/events")).json()["events"]
    assert [e["ce_id"] for e in on_commissioning] == [e["event_id"] for e in history]
    for topic_events in (on_commissioning, on_panel, on_learning):
        for stream in {e["ce_stream"] for e in topic_events}:
            versions = [int(e["ce_streamversion"]) for e in topic_events if e["ce_stream"] == stream]
            assert versions == list(range(1, len(versions) + 1)), f"{stream} out of order"

    panel_types = [e["ce_type"].split(".")[2] for e in on_panel
                   if e["ce_stream"] == f"panel-{review_id}"]
    assert panel_types[0] == "PanelOpened"
    assert panel_types[-1] == "ReviewReportAgreed"
    assert panel_types.count("MeetingHeld") == 2
    assert "InformationSubmitted" in panel_types
    family_types = [e["ce_type"].split(".")[2] for e in on_panel
                    if e["ce_stream"] == f"family-{review_id}"]
    assert family_types.count("FamilyMemberApproached") == 2
    assert {e["ce_type"].split(".")[2] for e in on_learning} >= {
        "LearningEventPlanned", "LearningEventHeld", "ContributionRecorded", "LearningPointRecorded"}

    # Causality across services: each reaction is recorded after what caused it.
    def time_of(events: list[dict[str, Any]], name: str) -> datetime:
        return datetime.fromisoformat(next(e["ce_time"] for e in events
                                           if e["ce_type"].split(".")[2] == name))

    assert time_of(on_commissioning, "ReviewCommissioned") < time_of(on_panel, "PanelOpened")
    assert time_of(on_panel, "ReviewReportAgreed") < time_of(on_commissioning,
                                                             "ReportAgreementRecorded")
    assert time_of(on_commissioning, "ReviewCommissioned") < time_of(on_learning,
                                                                     "LearningEventPlanned")
