"""The panel service end to end: commissioning events in from Kafka, HTTP commands and queries,
panel events out to Kafka, on the real broker and database."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from dhr_contracts.base import EventPayload
from dhr_contracts.commissioning import (
    ChairAppointed,
    ChairIndependenceDeclaration,
    EligibilityOutcome,
    NotificationReceived,
    ReviewCommissioned,
)
from dhr_contracts.envelope import Envelope
from dhr_contracts.topics import COMMISSIONING_EVENTS, PANEL_EVENTS
from support.kafka import eventually, headers_of, read_records
from support.tokens import ADMIN, POLICE_LEAD, TestIssuer
from support.tokens import CHAIR as CHAIR_TOKEN

# The `panel` fixture (tests/integration/conftest.py): client, runtime and a movable clock.
RunningPanel = Any

OPENED = "dhr.panel.PanelOpened.v1"
CHAIR = "dhr.panel.PanelChairRecorded.v1"


def envelope(payload: EventPayload, version: int) -> Envelope:
    review_id = str(payload.review_id)  # type: ignore[attr-defined]
    return Envelope(id=uuid.uuid4(), source="/dhr/commissioning", type=payload.event_type,
                    subject=review_id, time=datetime.now(UTC), stream=f"review-{review_id}",
                    streamversion=version, correlationid=uuid.uuid4(), actor="csp:northtown",
                    data=payload.model_dump(mode="json"))


async def publish(bootstrap: str, *envelopes: Envelope) -> None:
    """Publish as the commissioning relay does: binary CloudEvents, keyed by the review id."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for event in envelopes:
            await producer.send_and_wait(COMMISSIONING_EVENTS, event.kafka_value(),
                                         key=event.subject.encode(),
                                         headers=event.kafka_headers())
    finally:
        await producer.stop()


def notification(review_id: uuid.UUID) -> NotificationReceived:
    return NotificationReceived(
        review_id=review_id, received_at=datetime(2026, 2, 13, 9, tzinfo=UTC),
        notifying_agency="Norfolk Constabulary", date_of_death=date(2026, 2, 10),
        csp_learned_on=date(2026, 2, 12), csp_area="Norfolk", victim_age=34,
        suspect_relationship="current_intimate_partner", circumstances="homicide",
        prior_agency_contact="yes", decision_due_months=1, decision_due_on=date(2026, 3, 12))


def commissioned(review_id: uuid.UUID) -> ReviewCommissioned:
    return ReviewCommissioned(
        review_id=review_id, decided_on=date(2026, 2, 20), rationale="Statutory criteria met.",
        eligibility_outcome=EligibilityOutcome.ELIGIBLE, overrides_eligibility_assessment=False,
        decided_after_due_date=False, completion_due_months=6, completion_due_on=date(2026, 8, 20))


def chair(review_id: uuid.UUID, name: str = "Alex Chair", **changes: Any) -> ChairAppointed:
    fields: dict[str, Any] = {
        "review_id": review_id, "appointed_on": date(2026, 2, 25), "chair_name": name,
        "declaration": ChairIndependenceDeclaration(line_management_of_involved_agency=False,
                                                    service_delivery_for_involved_agency=False),
        "replaces_previous_chair": False, "chair_subject": CHAIR_TOKEN[2]}
    fields.update(changes)
    return ChairAppointed(**fields)


async def panel_of(service: RunningPanel, review_id: uuid.UUID,
                   headers: dict[str, str] | None = None) -> dict[str, Any] | None:
    response = await service.client.get(f"/panels/{review_id}", headers=headers)
    return response.json() if response.status_code == 200 else None


async def event_types(service: RunningPanel, review_id: uuid.UUID) -> list[str]:
    response = await service.client.get(f"/panels/{review_id}/events")
    return [e["type"] for e in response.json()["events"]] if response.status_code == 200 else []


async def an_open_panel(service: RunningPanel, bootstrap: str) -> uuid.UUID:
    """A panel opened in Norfolk (the area comes with the notification)."""
    review_id = uuid.uuid4()
    await publish(bootstrap, envelope(notification(review_id), 1),
                  envelope(commissioned(review_id), 3))

    async def opened() -> bool:
        return await panel_of(service, review_id) is not None

    await eventually(opened, timeout=60)
    return review_id


async def post(service: RunningPanel, path: str, body: dict[str, Any], status: int = 200,
               headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = await service.client.post(path, json=body, headers=headers)
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def join(service: RunningPanel, review_id: uuid.UUID, agency: str, sector: str,
               role: str = "panel_member") -> dict[str, Any]:
    return await post(service, f"/panels/{review_id}/members",
                      {"joined_on": "2026-03-01", "agency": agency, "sector": sector,
                       "role": role})


# --- (1) opening from the commissioning topic --------------------------------------------------


async def sealed(panel: RunningPanel, review_id: uuid.UUID, value: str) -> str:
    """`value` sealed as the commissioning service publishes it: with the review's key."""
    async with panel.runtime.pool.acquire() as connection, connection.transaction():
        key = await panel.runtime.keyring.sealing_key(connection, str(review_id))
    return key.seal(value)


async def test_commissioning_events_open_the_panel_once_and_record_the_chair(
    panel: RunningPanel, kafka_bootstrap: str
) -> None:
    review_id = uuid.uuid4()
    name = await sealed(panel, review_id, "Alex Chair")
    originals = [envelope(notification(review_id), 1), envelope(commissioned(review_id), 3),
                 envelope(chair(review_id, name), 4)]

    await publish(kafka_bootstrap, *originals)

    async def chaired() -> bool:
        found = await panel_of(panel, review_id)
        return found is not None and found["chair"] is not None

    await eventually(chaired, timeout=60)
    view = await panel_of(panel, review_id)
    assert view is not None
    assert view["csp_area"] == "Norfolk"
    assert view["opened_because"] == "review_commissioned"
    assert view["chair"] == {"name": "Alex Chair", "appointed_on": "2026-02-25",
                             "subject": "chair-alex"}

    # Redelivered as they were (same ids), and republished under new ids: nothing twice. A
    # replacement Chair published after them (same key, same partition) shows they were read.
    await publish(kafka_bootstrap, *originals, envelope(commissioned(review_id), 3),
                  envelope(chair(review_id, name), 4),
                  envelope(chair(review_id, await sealed(panel, review_id, "Sam Other"),
                                 replaces_previous_chair=True, replacement_reason="Ill health",
                                 chair_subject="chair-sam"), 5))

    async def replaced() -> bool:
        found = await panel_of(panel, review_id)
        return found is not None and found["chair"]["name"] == "Sam Other"

    await eventually(replaced, timeout=60)
    assert await event_types(panel, review_id) == [OPENED, CHAIR, CHAIR]
    history = (await panel.client.get(f"/panels/{review_id}/events")).json()["events"]
    assert history[0]["data"]["csp_area"] == "Norfolk"
    assert history[2]["data"]["replaces_previous_chair"] is True


async def test_a_chair_appointed_before_the_commissioning_event_arrived_opens_the_panel(
    panel: RunningPanel, kafka_bootstrap: str, token_issuer: TestIssuer
) -> None:
    review_id = uuid.uuid4()
    await publish(kafka_bootstrap, envelope(chair(review_id), 4))
    the_chair = token_issuer.headers(CHAIR_TOKEN)  # no area yet: only the Chair sees it

    async def opened() -> bool:
        return await panel_of(panel, review_id, the_chair) is not None

    await eventually(opened, timeout=60)
    view = await panel_of(panel, review_id, the_chair)
    assert view is not None and view["opened_because"] == "chair_appointed"


# --- (2) membership balance and the warning ----------------------------------------------------


async def test_membership_shows_the_balance_and_warns_once_per_lack_of_a_specialist_service(
    panel: RunningPanel, kafka_bootstrap: str
) -> None:
    review_id = await an_open_panel(panel, kafka_bootstrap)

    first = await join(panel, review_id, "Norfolk Constabulary", "police")
    second = await join(panel, review_id, "Norfolk ICB", "health", "agency_lead")
    observer = await join(panel, review_id, "Leeway", "specialist_domestic_abuse_service",
                          "observer")

    assert first["events"] == ["dhr.panel.AgencyJoinedPanel.v1",
                               "dhr.panel.PanelLacksSpecialistDomesticAbuseService.v1"]
    assert second["events"] == observer["events"] == ["dhr.panel.AgencyJoinedPanel.v1"]
    view = await panel_of(panel, review_id)
    assert view is not None
    assert view["balance"]["full_members_by_sector"]["police"] == 1
    assert view["balance"]["full_members_by_sector"]["health"] == 1
    assert view["balance"]["full_members_by_sector"]["specialist_domestic_abuse_service"] == 0
    assert view["balance"]["has_specialist_domestic_abuse_service"] is False
    assert view["active_warnings"] == ["lacks_specialist_domestic_abuse_service"]
    assert [m["agency"] for m in view["members"]] == ["Norfolk Constabulary", "Norfolk ICB",
                                                      "Leeway"]

    restored = await join(panel, review_id, "Norfolk Women's Aid",
                          "specialist_domestic_abuse_service")
    assert restored["events"] == ["dhr.panel.AgencyJoinedPanel.v1",
                                  "dhr.panel.PanelSpecialistDomesticAbuseServiceRestored.v1"]
    left = await post(panel, f"/panels/{review_id}/member-departures",
                      {"left_on": "2026-03-05", "agency": "norfolk women's aid"})
    assert left["events"] == ["dhr.panel.AgencyLeftPanel.v1",
                              "dhr.panel.PanelLacksSpecialistDomesticAbuseService.v1"]
    view = await panel_of(panel, review_id)
    assert view is not None
    assert [w["resolved_on"] for w in view["warnings"]] == ["2026-03-01", None]
    assert view["former_members"][0]["agency"] == "Norfolk Women's Aid"


# --- (3) an IMR, overdue once, submitted ---------------------------------------------------------


async def test_an_imr_is_found_overdue_once_by_the_clock_and_then_submitted(
    panel: RunningPanel, kafka_bootstrap: str, token_issuer: TestIssuer
) -> None:
    operator = token_issuer.headers(ADMIN)
    review_id = await an_open_panel(panel, kafka_bootstrap)
    await join(panel, review_id, "Norfolk Constabulary", "police")
    requested = await post(panel, f"/panels/{review_id}/requests",
                           {"kind": "imr", "agency": "Norfolk Constabulary",
                            "requested_on": "2026-03-02", "due_on": "2026-03-10"}, status=201)
    request_id = requested["request_id"]

    before = await post(panel, "/deadline-checks", {}, headers=operator)
    assert before["overdue_recorded"] == []

    panel.clock.advance(days=9)  # 2026-03-11: a day past the due date
    first = await post(panel, "/deadline-checks", {}, headers=operator)
    again = await post(panel, f"/panels/{review_id}/deadline-checks", {})

    assert [(o["review_id"], o["request_id"], o["due_on"]) for o in first["overdue_recorded"]] == [
        (str(review_id), request_id, "2026-03-10")]
    assert again["overdue_recorded"] == []
    types = await event_types(panel, review_id)
    assert types.count("dhr.panel.InformationRequestOverdue.v1") == 1
    overdue = (await panel.client.get(f"/panels/{review_id}/requests?overdue=true")).json()
    assert [r["request_id"] for r in overdue["items"]] == [request_id]

    submitted = await post(panel, f"/panels/{review_id}/requests/{request_id}/submission",
                           {"submitted_on": "2026-03-11"},
                           headers=token_issuer.headers(POLICE_LEAD))  # the agency itself
    assert submitted["events"] == ["dhr.panel.InformationSubmitted.v1"]
    listed = (await panel.client.get(
        f"/panels/{review_id}/requests?status=submitted&agency=norfolk constabulary")).json()
    assert [(r["request_id"], r["overdue"]) for r in listed["items"]] == [(request_id, False)]
    assert (await panel.client.get(
        f"/panels/{review_id}/requests?overdue=true")).json()["items"] == []
    history = (await panel.client.get(f"/panels/{review_id}/events")).json()["events"]
    assert history[-1]["data"]["late"] is True


# --- (4) meetings with quorum ------------------------------------------------------------------


async def test_a_quorate_meeting_decides_and_an_inquorate_one_cannot(
    panel: RunningPanel, kafka_bootstrap: str
) -> None:
    review_id = await an_open_panel(panel, kafka_bootstrap)
    for agency, sector in [("Police", "police"), ("ICB", "health"),
                           ("Women's Aid", "specialist_domestic_abuse_service")]:
        await join(panel, review_id, agency, sector)
    base = f"/panels/{review_id}/meetings"

    quorate = (await post(panel, base, {"scheduled_for": "2026-03-10",
                                        "agenda": ["Terms of reference"]}, 201))["meeting_id"]
    inquorate = (await post(panel, base, {"scheduled_for": "2026-04-10",
                                          "agenda": ["Scoping"]}, 201))["meeting_id"]
    await post(panel, f"{base}/{quorate}/held",
               {"held_on": "2026-03-10", "attended": ["Police", "ICB", "Women's Aid"],
                "chair_present": True})
    await post(panel, f"{base}/{inquorate}/held",
               {"held_on": "2026-04-10", "attended": ["Police", "ICB"],
                "apologies": ["Women's Aid"], "chair_present": True})

    decided = await post(panel, f"{base}/{quorate}/decisions",
                         {"text": "The period under review is 2021 to 2026."}, 201)
    refused = await panel.client.post(f"{base}/{inquorate}/decisions",
                                      json={"text": "Adopt the chronology template."})
    action = await post(panel, f"{base}/{inquorate}/actions",
                        {"text": "Reconvene with a quorum.", "owner_agency": "Police",
                         "due_on": "2026-04-30"}, 201)
    await post(panel, f"{base}/{inquorate}/minutes",
               {"recorded_on": "2026-04-11", "text": "Quorum not met; Alex Chair adjourned."})

    assert decided["events"] == ["dhr.panel.PanelDecisionRecorded.v1"]
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["title"] == "Meeting not quorate"
    assert action["events"] == ["dhr.panel.PanelActionAssigned.v1"]
    meetings = {m["meeting_id"]: m for m in (await panel_of(panel, review_id) or {})["meetings"]}
    assert meetings[quorate]["quorate"] is True
    assert meetings[inquorate]["quorate"] is False
    assert meetings[inquorate]["apologies"] == ["Women's Aid"]
    assert meetings[inquorate]["minutes"]["revision"] == 1
    assert [d["text"] for d in meetings[quorate]["decisions"]] == [
        "The period under review is 2021 to 2026."]
    held = [e for e in (await panel.client.get(f"/panels/{review_id}/events")).json()["events"]
            if e["type"] == "dhr.panel.MeetingHeld.v1"]
    assert [(e["data"]["quorum_min_agencies"], e["data"]["counted_agencies"]) for e in held] == [
        (3, 3), (3, 2)]


# --- (5) the agreed report on the panel topic ----------------------------------------------------


async def test_the_agreed_report_is_published_with_the_review_as_key(
    panel: RunningPanel, kafka_bootstrap: str
) -> None:
    review_id = await an_open_panel(panel, kafka_bootstrap)
    await post(panel, f"/panels/{review_id}/terms-of-reference",
               {"issued_on": "2026-03-01", "period_from": "2021-01-01",
                "period_to": "2026-02-10", "lines_of_enquiry": ["What did agencies know?"],
                "family_consulted": True})
    draft = {"shared_on": "2026-06-01", "summary": "Jane's contact with agencies.",
             "recommendations": [
                 {"text": "Norfolk Constabulary to train response officers in coercive control "
                          "by March 2027.", "addressee_agencies": ["Norfolk Constabulary"],
                  "level": "local"},
                 {"text": "The Home Office to issue guidance on GP information sharing.",
                  "addressee_agencies": ["Home Office"], "level": "national"}]}
    await post(panel, f"/panels/{review_id}/report-drafts", draft)
    await post(panel, f"/panels/{review_id}/report-drafts", {**draft, "shared_on": "2026-06-15"})

    superseded = await panel.client.post(f"/panels/{review_id}/report-agreement",
                                         json={"agreed_on": "2026-07-01", "report_version": 1})
    agreed = await post(panel, f"/panels/{review_id}/report-agreement",
                        {"agreed_on": "2026-07-01", "report_version": 2})
    again = await panel.client.post(f"/panels/{review_id}/report-agreement",
                                    json={"agreed_on": "2026-07-02", "report_version": 2})

    assert superseded.status_code == 422 and superseded.json()["field"] == "report_version"
    assert agreed["events"] == ["dhr.panel.ReviewReportAgreed.v1"]
    assert again.status_code == 409

    async def published() -> list[Any]:
        records = await read_records(kafka_bootstrap, PANEL_EVENTS, expected=10_000, timeout=1)
        return [r for r in records if r.key == str(review_id).encode()
                and headers_of(r)["ce_type"] == "dhr.panel.ReviewReportAgreed.v1"]

    async def arrived() -> bool:
        return len(await published()) == 1

    await eventually(arrived, timeout=60)
    record = (await published())[0]
    headers = headers_of(record)
    assert headers["ce_subject"] == str(review_id)
    assert headers["ce_source"] == "/dhr/panel"
    assert headers["ce_stream"] == f"panel-{review_id}"
    data = json.loads(record.value)
    assert data["report_version"] == 2
    assert [(r["number"], r["level"]) for r in data["recommendations"]] == [
        (1, "local"), (2, "national")]
    view = await panel_of(panel, review_id)
    assert view is not None
    assert view["report"]["agreed"] == {"agreed_on": "2026-07-01", "report_version": 2}
    assert view["terms_of_reference"]["version"] == 1


# --- (6) bad input ---------------------------------------------------------------------------------


async def test_bad_input_gets_a_problem_naming_the_field_and_stores_nothing(
    panel: RunningPanel, kafka_bootstrap: str
) -> None:
    review_id = await an_open_panel(panel, kafka_bootstrap)
    before = await event_types(panel, review_id)
    cases = [
        ("terms-of-reference", {"issued_on": "2026-03-01", "period_from": "2026-01-02",
                                "period_to": "2026-01-01", "lines_of_enquiry": ["Why?"],
                                "family_consulted": False}, "period_to"),
        ("terms-of-reference", {"issued_on": "2026-03-01", "period_from": "2026-01-01",
                                "period_to": "2026-01-02", "lines_of_enquiry": [],
                                "family_consulted": False}, "lines_of_enquiry"),
        ("members", {"joined_on": "2026-03-01", "agency": "Police", "sector": "army"}, "sector"),
        ("requests", {"kind": "imr", "agency": "Police", "requested_on": "2026-03-02",
                      "due_on": "2026-03-01"}, "due_on"),
        ("report-drafts", {"shared_on": "2026-06-01", "summary": "S", "recommendations": [
            {"text": "T", "addressee_agencies": [], "level": "local"}]},
         "recommendations.0.addressee_agencies"),
    ]
    for path, body, field in cases:
        response = await panel.client.post(f"/panels/{review_id}/{path}", json=body)
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        named = {problem.get("field")} | {e["field"] for e in problem.get("errors", [])}
        assert field in named, (path, problem)

    assert await event_types(panel, review_id) == before

    missing = await panel.client.post(f"/panels/{uuid.uuid4()}/members",
                                      json={"joined_on": "2026-03-01", "agency": "Police",
                                            "sector": "police"})
    assert missing.status_code == 404
    assert missing.json()["title"] == "Panel not open"
    unknown = await panel.client.post(f"/panels/{review_id}/requests/{uuid.uuid4()}/submission",
                                      json={"submitted_on": "2026-03-02"})
    assert unknown.status_code == 404
    assert (await panel.client.get(f"/panels/{uuid.uuid4()}")).status_code == 404
