"""The recommendations service end to end on the real broker and database: agreed reports in
from the panel topic, action plans, responses, claims and verifications over HTTP, overdue
deadlines recorded once (also after a restart), recommendation events out to Kafka."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer

from dhr_contracts.base import EventPayload
from dhr_contracts.commissioning import NotificationReceived
from dhr_contracts.envelope import Envelope
from dhr_contracts.panel import AgreedRecommendation, RecommendationLevel, ReviewReportAgreed
from dhr_contracts.topics import COMMISSIONING_EVENTS, PANEL_EVENTS, RECOMMENDATIONS_EVENTS
from dhr_recommendations.consumers import recommendation_id_of
from support.kafka import eventually, headers_of, read_records
from support.tokens import ADMIN, OVERSIGHT, POLICE_LEAD

# The `recommendations` fixture (tests/integration/conftest.py): client, runtime, movable clock.
RunningRecommendations = Any

RECORDED = "dhr.recommendations.RecommendationRecorded.v1"
NORTHTOWN_MANAGER = ("review_manager", "Northtown", "rm-northtown")
HOUSING_LEAD = ("agency_lead", "Northtown Housing", "lead-housing")


def envelope(payload: EventPayload, source: str, stream: str) -> Envelope:
    review_id = str(payload.review_id)  # type: ignore[attr-defined]
    return Envelope(id=uuid.uuid4(), source=source, type=payload.event_type, subject=review_id,
                    time=datetime.now(UTC), stream=stream, streamversion=1,
                    correlationid=uuid.uuid4(), actor="test", data=payload.model_dump(mode="json"))


async def publish(bootstrap: str, topic: str, *envelopes: Envelope) -> None:
    """Publish as the other services' relays do: binary CloudEvents keyed by the review id."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for event in envelopes:
            await producer.send_and_wait(topic, event.kafka_value(), key=event.subject.encode(),
                                         headers=event.kafka_headers())
    finally:
        await producer.stop()


def notification(review_id: uuid.UUID, area: str = "Norfolk") -> NotificationReceived:
    return NotificationReceived(
        review_id=review_id, received_at=datetime(2026, 1, 13, 9, tzinfo=UTC),
        notifying_agency="Norfolk Constabulary", date_of_death=date(2026, 1, 10),
        csp_learned_on=date(2026, 1, 12), csp_area=area, victim_age=34,
        suspect_relationship="current_intimate_partner", circumstances="homicide",
        prior_agency_contact="yes", decision_due_months=1, decision_due_on=date(2026, 2, 12))


def agreed_report(review_id: uuid.UUID) -> ReviewReportAgreed:
    return ReviewReportAgreed(
        review_id=review_id, agreed_on=date(2026, 3, 2), report_version=3, recommendations=(
            AgreedRecommendation(
                number=1, level=RecommendationLevel.LOCAL,
                text="Norfolk Constabulary to train all response officers in recognising "
                     "coercive control by 31 March 2027, measured by an audit of 50 records.",
                addressee_agencies=("Norfolk Constabulary",)),
            AgreedRecommendation(
                number=2, level=RecommendationLevel.LOCAL,
                text="Agencies should improve information sharing.",
                addressee_agencies=("Norfolk and Suffolk NHS Foundation Trust",
                                    "Norfolk County Council Adult Social Care")),
            AgreedRecommendation(
                number=3, level=RecommendationLevel.NATIONAL,
                text="The Home Office to publish statutory guidance on stalking risk within "
                     "twelve months, evidenced by its publication.",
                addressee_agencies=("Home Office",)),
        ))


async def review_recommendations(service: RunningRecommendations, review_id: uuid.UUID,
                                 headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    response = await service.client.get(f"/reviews/{review_id}/recommendations",
                                        headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def a_report_recorded(service: RunningRecommendations, bootstrap: str) -> uuid.UUID:
    review_id = uuid.uuid4()
    await publish(bootstrap, COMMISSIONING_EVENTS,
                  envelope(notification(review_id), "/dhr/commissioning", f"review-{review_id}"))

    async def area_known() -> bool:
        return bool(await service.runtime.pool.fetchval(
            "SELECT true FROM commissioning_review_areas WHERE review_id = $1", review_id))

    await eventually(area_known, timeout=60)
    await publish(bootstrap, PANEL_EVENTS,
                  envelope(agreed_report(review_id), "/dhr/panel", f"panel-{review_id}"))

    async def recorded() -> bool:
        return len(await review_recommendations(service, review_id)) == 3

    await eventually(recorded, timeout=60)
    return review_id


async def post(service: RunningRecommendations, path: str, body: dict[str, Any],
               status: int = 200, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = await service.client.post(path, json=body, headers=headers)
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def event_types(service: RunningRecommendations, recommendation_id: str) -> list[str]:
    response = await service.client.get(f"/recommendations/{recommendation_id}/events")
    return [e["type"] for e in response.json()["events"]]


# --- from the agreed report to recommendations and action plans ------------------------------


async def test_an_agreed_report_records_each_recommendation_once_with_its_area_and_smart_check(
    recommendations: RunningRecommendations, kafka_bootstrap: str, token_issuer: Any
) -> None:
    review_id = await a_report_recorded(recommendations, kafka_bootstrap)
    items = await review_recommendations(recommendations, review_id)
    assert [i["number"] for i in items] == [1, 2, 3]
    assert [i["recommendation_id"] for i in items] == [
        str(recommendation_id_of(review_id, n)) for n in (1, 2, 3)]
    assert {i["csp_area"] for i in items} == {"Norfolk"}
    smart, vague, national = items
    assert smart["smart"] == {"score": 100, "findings": []}
    assert smart["addressees"][0]["target_date"] == "2027-03-31"
    assert smart["addressees"][0]["addressee_type"] == "police"
    assert vague["smart"]["score"] < 50
    assert "vague_wording" in {f["flag"] for f in vague["smart"]["findings"]}
    assert [a["addressee_type"] for a in vague["addressees"]] == ["health_services",
                                                                   "social_services"]
    assert national["addressees"][0]["addressee_type"] == "government_department"
    assert all(a["ntsb_status"] == "Open—Await Response" for i in items for a in i["addressees"])
    assert all(i["open"] for i in items)

    # The same report again (a redelivery under a new message id) records nothing twice.
    await publish(kafka_bootstrap, PANEL_EVENTS,
                  envelope(agreed_report(review_id), "/dhr/panel", f"panel-{review_id}"))
    marker = uuid.uuid4()
    await publish(kafka_bootstrap, PANEL_EVENTS,
                  envelope(agreed_report(marker), "/dhr/panel", f"panel-{marker}"))

    async def marker_recorded() -> bool:  # of no known area: only oversight reads it
        return len(await review_recommendations(recommendations, marker,
                                                token_issuer.headers(OVERSIGHT))) == 3

    await eventually(marker_recorded, timeout=60)
    assert await recommendations.runtime.pool.fetchval(
        "SELECT count(*) FROM events WHERE type = $1 AND data ->> 'review_id' = $2",
        RECORDED, str(review_id)) == 3

    # Published on the recommendations topic, keyed by the review id.
    records = await read_records(kafka_bootstrap, RECOMMENDATIONS_EVENTS, expected=6, timeout=60)
    mine = [r for r in records if r.key == str(review_id).encode()]
    assert len(mine) == 3
    assert {headers_of(r)["ce_type"] for r in mine} == {RECORDED}


async def test_an_areas_action_plan_shows_each_addressee_with_its_status_and_filters(
    recommendations: RunningRecommendations, kafka_bootstrap: str, token_issuer: Any
) -> None:
    review_id = await a_report_recorded(recommendations, kafka_bootstrap)
    first = str(recommendation_id_of(review_id, 1))
    await post(recommendations, f"/recommendations/{first}/addressees/norfolk-constabulary/"
               "responses", {"status": "accepted", "recorded_on": "2026-03-20",
                             "action_plan": "Coercive control module in the spring programme."},
               headers=token_issuer.headers(POLICE_LEAD))  # the addressee answers itself
    response = await recommendations.client.get(
        "/action-plans", params={"area": "norfolk", "review_id": str(review_id)})
    rows = response.json()["items"]
    assert len(rows) == 4  # 1 + 2 + 1 addressees
    police = next(r for r in rows if r["addressee_id"] == "norfolk-constabulary")
    assert police["response_status"] == "accepted"
    assert police["ntsb_status"] == "Open—Acceptable Response"
    assert police["action_plan"] == "Coercive control module in the spring programme."
    response = await recommendations.client.get(
        "/action-plans", params={"area": "Norfolk", "addressee_type": "health_services",
                                 "status": "open", "review_id": str(review_id)})
    assert [r["number"] for r in response.json()["items"]] == [2]
    response = await recommendations.client.get(
        "/action-plans", params={"response_status": "accepted", "review_id": str(review_id)})
    assert [r["addressee_id"] for r in response.json()["items"]] == ["norfolk-constabulary"]
    response = await recommendations.client.get("/action-plans", params={"area": "Elsewhere"})
    assert response.json()["items"] == []


# --- direct entry and the status lifecycle over HTTP -------------------------------------------


DIRECT = {
    "review_id": "5f2d7a1e-0c9b-4e3a-8b6d-1a2b3c4d5e6f",
    "text": "Northtown Housing to introduce a domestic abuse housing policy by 30 September "
            "2026, evidenced by its adoption by the board.",
    "level": "local", "themes": ["policy"], "tags": ["housing"],
    "addressees": [{"name": "Northtown Housing"}], "issued_on": "2026-03-02",
    "csp_area": "Northtown",
}


async def test_a_direct_recommendation_goes_from_response_to_claim_to_verification(
    recommendations: RunningRecommendations, token_issuer: Any
) -> None:
    recommendations.client.headers.update(token_issuer.headers(NORTHTOWN_MANAGER))
    housing_lead = token_issuer.headers(HOUSING_LEAD)
    answer = await post(recommendations, "/recommendations", DIRECT, 201)
    recommendation_id = answer["recommendation_id"]
    assert answer["smart"]["score"] == 100
    base = f"/recommendations/{recommendation_id}/addressees/northtown-housing"
    await post(recommendations, f"{base}/responses",
               {"status": "accepted", "recorded_on": "2026-03-20"}, headers=housing_lead)
    # Illegal: back to awaiting_response; a claim of implemented from not accepted is fine now.
    refused = await recommendations.client.post(
        f"{base}/responses", json={"status": "awaiting_response", "recorded_on": "2026-03-21"},
        headers=housing_lead)
    assert refused.status_code == 409 and refused.json()["field"] == "status"
    await post(recommendations, f"{base}/implementation-claims",
               {"status": "implemented", "claimed_on": "2026-09-01",
                "summary": "Policy adopted by the board.", "evidence_reference": "DOC-17"},
               headers=housing_lead)
    entry = await post(recommendations, f"{base}/correspondence",
                       {"logged_on": "2026-09-02", "direction": "from_addressee",
                        "correspondent": "Head of Housing", "summary": "Board minutes sent.",
                        "evidence_reference": "MIN-2026-09"}, 201)
    assert uuid.UUID(entry["entry_id"])
    view = (await recommendations.client.get(f"/recommendations/{recommendation_id}")).json()
    (housing,) = view["addressees"]
    assert (housing["implementation_claimed"], housing["implementation_verified"]) == (
        "implemented", None)
    assert view["open"] and housing["correspondence"][0]["evidence_reference"] == "MIN-2026-09"
    await post(recommendations, f"{base}/verifications",
               {"status": "implemented", "verified_on": "2026-10-01",
                "verified_by": "Northtown CSP board", "note": "Policy and minutes seen."})
    view = (await recommendations.client.get(f"/recommendations/{recommendation_id}")).json()
    (housing,) = view["addressees"]
    assert not view["open"] and view["status"] == "closed"
    assert housing["ntsb_status"] == "Closed—Acceptable Action"
    assert housing["reverify_on"] == "2027-10-01"
    assert await event_types(recommendations, recommendation_id) == [
        RECORDED, "dhr.recommendations.ResponseRecorded.v1",
        "dhr.recommendations.ImplementationClaimed.v1",
        "dhr.recommendations.CorrespondenceLogged.v1",
        "dhr.recommendations.ImplementationVerified.v1"]


async def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(
    recommendations: RunningRecommendations, token_issuer: Any
) -> None:
    recommendations.client.headers.update(token_issuer.headers(NORTHTOWN_MANAGER))
    before = await recommendations.runtime.store.count()
    for change, field in [({"text": ""}, "text"), ({"addressees": []}, "addressees"),
                          ({"level": "parish"}, "level"), ({"issued_on": "soon"}, "issued_on"),
                          ({"target_date": "2026-01-01"}, "target_date"),
                          ({"recommendation_id": str(uuid.uuid4())}, "recommendation_id")]:
        response = await recommendations.client.post("/recommendations", json={**DIRECT, **change})
        assert response.status_code == 422, (change, response.text)
        problem = response.json()
        assert response.headers["content-type"].startswith("application/problem+json")
        named = problem.get("field") or problem["errors"][0]["field"]
        assert named.split(".")[0] == field, problem
    answer = await post(recommendations, "/recommendations", DIRECT, 201)
    base = f"/recommendations/{answer['recommendation_id']}/addressees/northtown-housing"
    rejection = await recommendations.client.post(
        f"{base}/responses", json={"status": "rejected", "recorded_on": "2026-03-20"})
    assert rejection.status_code == 422 and rejection.json()["field"] == "reason"
    unknown = await recommendations.client.post(
        f"/recommendations/{answer['recommendation_id']}/addressees/nobody/responses",
        json={"status": "accepted", "recorded_on": "2026-03-20"})
    assert unknown.status_code == 404 and unknown.json()["field"] == "addressee_id"
    assert await recommendations.runtime.store.count() == before + 1


# --- deadlines on a moved clock, once each, also after a restart ------------------------------


async def test_overdue_deadlines_fire_once_each_with_escalations_also_after_a_restart(
    recommendations: RunningRecommendations, kafka_bootstrap: str, token_issuer: Any
) -> None:
    operator = token_issuer.headers(ADMIN)
    review_id = await a_report_recorded(recommendations, kafka_bootstrap)
    local = str(recommendation_id_of(review_id, 1))
    national = str(recommendation_id_of(review_id, 3))
    assert (await post(recommendations, "/deadline-checks", {}, headers=operator))["recorded"] == []

    recommendations.clock.advance(days=57)  # 28 April 2026: responses were due on 27 April
    recorded = (await post(recommendations, "/deadline-checks", {}, headers=operator))["recorded"]
    mine = [r for r in recorded if r["review_id"] == str(review_id)]
    overdue = [r for r in mine if r["type"].endswith("RecommendationResponseOverdue.v1")]
    escalated = [r for r in mine if r["type"].endswith("RecommendationEscalated.v1")]
    assert len(overdue) == 4  # one per addressee
    assert sorted(e["escalated_to"] for e in escalated) == ["csp"] * 4 + ["oversight"]
    assert (await post(recommendations, "/deadline-checks", {}, headers=operator))["recorded"] == []

    # Restart the runtime (state comes back from the database) and check again: nothing new.
    await recommendations.runtime.stop()
    await recommendations.runtime.start()
    assert (await post(recommendations, "/deadline-checks", {}, headers=operator))["recorded"] == []
    assert (await post(recommendations, f"/recommendations/{national}/deadline-checks",
                       {}))["recorded"] == []

    oversight = (await recommendations.client.get("/escalations", params={"to": "oversight"})
                 ).json()["items"]
    assert [(e["recommendation_id"], e["reason"]) for e in oversight
            if e["review_id"] == str(review_id)] == [(national, "response_overdue")]
    csp = (await recommendations.client.get("/escalations", params={"to": "csp"})).json()["items"]
    assert len([e for e in csp if e["review_id"] == str(review_id)]) == 4

    # The local recommendation's action (target 31 March 2027) goes overdue once, after a response.
    base = f"/recommendations/{local}/addressees/norfolk-constabulary"
    await post(recommendations, f"{base}/responses",
               {"status": "accepted", "recorded_on": "2026-04-30"})
    await post(recommendations, f"{base}/implementation-claims",
               {"status": "in_progress", "claimed_on": "2026-10-01", "summary": "Half trained."})
    recommendations.clock.now = datetime(2027, 4, 1, 9, tzinfo=UTC)
    recorded = (await post(recommendations, f"/recommendations/{local}/deadline-checks",
                           {}))["recorded"]
    assert [r["type"].rsplit(".", 2)[-2] for r in recorded] == ["ActionOverdue",
                                                                "RecommendationEscalated"]
    await recommendations.runtime.stop()
    await recommendations.runtime.start()
    recommendations.clock.advance(days=30)
    recorded = (await post(recommendations, "/deadline-checks", {}, headers=operator))["recorded"]
    assert [r for r in recorded if r["recommendation_id"] == local] == []
    plan = (await recommendations.client.get(
        "/action-plans", params={"review_id": str(review_id), "overdue": "true"})).json()["items"]
    assert {(p["number"], p["addressee_id"]) for p in plan} >= {(1, "norfolk-constabulary")}


async def test_a_verified_implementation_is_reminded_for_reverification_once(
    recommendations: RunningRecommendations, token_issuer: Any
) -> None:
    recommendations.client.headers.update(token_issuer.headers(NORTHTOWN_MANAGER))
    operator = token_issuer.headers(ADMIN)
    answer = await post(recommendations, "/recommendations", DIRECT, 201)
    recommendation_id = answer["recommendation_id"]
    base = f"/recommendations/{recommendation_id}/addressees/northtown-housing"
    await post(recommendations, f"{base}/responses",
               {"status": "accepted", "recorded_on": "2026-03-20"})
    await post(recommendations, f"{base}/verifications",
               {"status": "implemented", "verified_on": "2026-04-01",
                "verified_by": "Northtown CSP board", "note": "Policy seen."})
    recommendations.clock.now = datetime(2027, 4, 1, 9, tzinfo=UTC) - timedelta(days=1)
    assert (await post(recommendations, "/deadline-checks", {}, headers=operator))["recorded"] == []
    recommendations.clock.advance(days=1)
    recorded = (await post(recommendations, "/deadline-checks", {}, headers=operator))["recorded"]
    assert [(r["type"], r["due_on"]) for r in recorded] == [
        ("dhr.recommendations.ReverificationDue.v1", "2027-04-01")]
    recommendations.clock.advance(days=60)
    assert (await post(recommendations, "/deadline-checks", {}, headers=operator))["recorded"] == []
