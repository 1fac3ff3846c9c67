"""Who may do what, on the five services running on the real Kafka broker and PostgreSQL server.

Each role's allowed and refused actions (docs/security.md), and the two rules every service
keeps: a refusal by role is a 403 that says nothing of any object, and an object the caller may
not see gets exactly the 404 of one that does not exist (another organisation's review, panel,
request or recommendation cannot be told apart from a made-up id).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, date, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from commissioning_support import RunningService, notification

from dhr_contracts.base import EventPayload
from dhr_contracts.commissioning import (
    ChairAppointed,
    ChairIndependenceDeclaration,
    EligibilityOutcome,
    NotificationReceived,
    ReviewCommissioned,
)
from dhr_contracts.envelope import Envelope
from dhr_contracts.panel import AgreedRecommendation, RecommendationLevel, ReviewReportAgreed
from dhr_contracts.topics import COMMISSIONING_EVENTS, PANEL_EVENTS
from dhr_recommendations.consumers import recommendation_id_of
from support.kafka import eventually
from support.tokens import (
    ADMIN,
    CHAIR,
    HEALTH_LEAD,
    OVERSIGHT,
    POLICE_LEAD,
    POLICE_SYSTEM,
    REVIEW_MANAGER_NORFOLK,
    REVIEW_MANAGER_SUFFOLK,
    TestIssuer,
)

# The service fixtures of tests/integration/conftest.py.
RunningPanel = RunningRecommendations = RunningOversight = Any

POLICE, HEALTH = "Norfolk Constabulary", "Norfolk ICB"
HOUSING_LEAD = ("agency_lead", "Norfolk Housing", "lead-housing")
PUBLIC = {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect",
          "/redoc"}


# --- helpers ---------------------------------------------------------------------------------


def assert_same_not_found(hidden: httpx.Response, hidden_id: object, missing: httpx.Response,
                          missing_id: object) -> None:
    """The answer for an object the caller may not see is the answer for a made-up id."""
    assert hidden.status_code == missing.status_code == 404, (hidden.text, missing.text)
    assert hidden.headers["content-type"] == missing.headers["content-type"]
    assert (hidden.text.replace(str(hidden_id), "<id>")
            == missing.text.replace(str(missing_id), "<id>")), (hidden.text, missing.text)


def envelope(payload: EventPayload, version: int, source: str = "/dhr/commissioning") -> Envelope:
    review_id = str(payload.review_id)  # type: ignore[attr-defined]
    return Envelope(id=uuid.uuid4(), source=source, type=payload.event_type, subject=review_id,
                    time=datetime.now(UTC), stream=f"review-{review_id}", streamversion=version,
                    correlationid=uuid.uuid4(), actor="test", data=payload.model_dump(mode="json"))


async def publish(bootstrap: str, topic: str, *envelopes: Envelope) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for sent in envelopes:
            await producer.send_and_wait(topic, sent.kafka_value(), key=sent.subject.encode(),
                                         headers=sent.kafka_headers())
    finally:
        await producer.stop()


async def a_commissioned_review(bootstrap: str, area: str, chair_subject: str | None = None
                                ) -> uuid.UUID:
    """A review notified in `area` and commissioned, its Chair appointed when a subject is
    given, as the commissioning service publishes them."""
    review_id = uuid.uuid4()
    events = [
        envelope(NotificationReceived(
            review_id=review_id, received_at=datetime(2026, 2, 13, 9, tzinfo=UTC),
            notifying_agency=POLICE, date_of_death=date(2026, 2, 10),
            csp_learned_on=date(2026, 2, 12), csp_area=area, victim_age=34,
            suspect_relationship="current_intimate_partner", circumstances="homicide",
            prior_agency_contact="yes", decision_due_months=1,
            decision_due_on=date(2026, 3, 12)), 1),
        envelope(ReviewCommissioned(
            review_id=review_id, decided_on=date(2026, 2, 20), rationale="Criteria met.",
            eligibility_outcome=EligibilityOutcome.ELIGIBLE,
            overrides_eligibility_assessment=False, decided_after_due_date=False,
            completion_due_months=6, completion_due_on=date(2026, 8, 20)), 3)]
    if chair_subject is not None:
        events.append(envelope(ChairAppointed(
            review_id=review_id, appointed_on=date(2026, 2, 25), chair_name="Alex Chair",
            declaration=ChairIndependenceDeclaration(line_management_of_involved_agency=False,
                                                     service_delivery_for_involved_agency=False),
            replaces_previous_chair=False, chair_subject=chair_subject), 4))
    await publish(bootstrap, COMMISSIONING_EVENTS, *events)
    return review_id


def example_path(path: str) -> str:
    """A route's path with made-up values for its parameters."""
    numbers = {"submission_number", "offer_number", "size"}
    return re.sub(r"\{(\w+)\}", lambda m: "1" if m[1] in numbers else str(uuid.uuid4()), path)


# --- every service: no token, no answer; an oversight reader writes nothing ---------------------


async def test_every_route_but_health_and_docs_needs_a_token_and_an_oversight_reader_writes_nothing(
    commissioning: RunningService, panel: RunningPanel, learning: RunningService,
    recommendations: RunningRecommendations, oversight: RunningOversight,
    token_issuer: TestIssuer,
) -> None:
    reader = token_issuer.headers(OVERSIGHT)
    writes = 0
    for service in (commissioning, panel, learning, recommendations, oversight):
        client: httpx.AsyncClient = service.client
        described = (await client.get("/openapi.json", headers={"Authorization": ""})).json()
        assert "bearer" in described["components"]["securitySchemes"]
        for path, operations in described["paths"].items():
            for method in operations:
                url = example_path(path)
                anonymous = await client.request(method, url, json={},
                                                 headers={"Authorization": ""})
                if path in PUBLIC:
                    continue
                assert anonymous.status_code == 401, (method, path, anonymous.text)
                assert anonymous.headers["www-authenticate"].startswith("Bearer")
                if method == "post":
                    # Refused by role before the body is even read: an empty body is no 422.
                    refused = await client.post(url, json={}, headers=reader)
                    assert refused.status_code == 403, (path, refused.text)
                    assert refused.json()["title"] == "Forbidden"
                    writes += 1
    assert writes > 50  # every command of every service was tried
    assert await commissioning.event_count() == 0


async def test_a_forged_or_expired_token_is_refused_with_401(
        commissioning: RunningService, token_issuer: TestIssuer) -> None:
    claims = token_issuer.issuer.claims(role="review_manager", organisation="Norfolk")
    expired = token_issuer.issuer.sign({**claims, "exp": claims["iat"] - 600})
    header, payload, signature = token_issuer.token(*OVERSIGHT).split(".")
    forged = f"{header}.{payload[:-4]}AAAA.{signature}"

    for token in (expired, forged, "not-a-jwt"):
        response = await commissioning.client.get("/reviews",
                                                  headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


# --- commissioning ------------------------------------------------------------------------------


async def test_a_review_manager_reads_and_changes_only_their_own_areas_reviews(
        commissioning: RunningService, token_issuer: TestIssuer) -> None:
    suffolk = token_issuer.headers(REVIEW_MANAGER_SUFFOLK)
    norfolk_review = (await commissioning.client.post("/reviews", json=notification())
                      ).json()["review_id"]
    suffolk_review = (await commissioning.client.post(
        "/reviews", json=notification(csp_area="Suffolk"), headers=suffolk)).json()["review_id"]
    made_up = uuid.uuid4()
    decision = {"decided_on": "2026-03-01", "rationale": "Met."}

    for path in ("", "/events"):
        hidden = await commissioning.client.get(f"/reviews/{suffolk_review}{path}")
        missing = await commissioning.client.get(f"/reviews/{made_up}{path}")
        assert_same_not_found(hidden, suffolk_review, missing, made_up)
    hidden = await commissioning.client.post(
        f"/reviews/{suffolk_review}/decision-to-commission", json=decision)
    missing = await commissioning.client.post(f"/reviews/{made_up}/decision-to-commission",
                                              json=decision)
    assert_same_not_found(hidden, suffolk_review, missing, made_up)
    listed = (await commissioning.client.get("/reviews")).json()
    assert (listed["total"], [r["review_id"] for r in listed["items"]]) == (1, [norfolk_review])
    assert (await commissioning.client.get("/reviews?area=Suffolk")).json()["total"] == 0
    other_area = await commissioning.client.post("/reviews", json=notification(csp_area="Suffolk"))
    assert other_area.status_code == 403
    decided = await commissioning.client.post(
        f"/reviews/{norfolk_review}/decision-to-commission", json=decision)
    assert decided.status_code == 200
    assert await commissioning.event_count() == 5  # two notifications (2 each), one decision


async def test_a_chair_reads_the_reviews_they_chair_and_changes_none(
        commissioning: RunningService, token_issuer: TestIssuer) -> None:
    chair = token_issuer.headers(CHAIR)
    chaired, other = [(await commissioning.client.post("/reviews", json=notification())
                       ).json()["review_id"] for _ in range(2)]
    for review_id in (chaired, other):
        await commissioning.client.post(f"/reviews/{review_id}/decision-to-commission",
                                        json={"decided_on": "2026-03-01", "rationale": "Met."})
    appointed = await commissioning.client.post(f"/reviews/{chaired}/chair", json={
        "appointed_on": "2026-03-02", "chair_name": "Alex Chair", "chair_subject": CHAIR[2],
        "declaration": {"line_management_of_involved_agency": False,
                        "service_delivery_for_involved_agency": False}})
    assert appointed.status_code == 200, appointed.text

    assert (await commissioning.client.get(f"/reviews/{chaired}", headers=chair)).status_code == 200
    listed = (await commissioning.client.get("/reviews", headers=chair)).json()
    assert [r["review_id"] for r in listed["items"]] == [chaired]
    made_up = uuid.uuid4()
    assert_same_not_found(
        await commissioning.client.get(f"/reviews/{other}", headers=chair), other,
        await commissioning.client.get(f"/reviews/{made_up}", headers=chair), made_up)
    paused = await commissioning.client.post(f"/reviews/{chaired}/pause", headers=chair,
                                             json={"paused_on": "2026-03-03", "reason": "inquest"})
    assert paused.status_code == 403


async def test_an_agency_notifies_in_its_own_name_only_and_reads_nothing_back(
        commissioning: RunningService, token_issuer: TestIssuer) -> None:
    police_system = token_issuer.headers(POLICE_SYSTEM)

    notified = await commissioning.client.post("/reviews", json=notification(),
                                               headers=police_system)
    in_another_name = await commissioning.client.post(
        "/reviews", json=notification(notifying_agency=HEALTH), headers=police_system)
    read_back = await commissioning.client.get(f"/reviews/{notified.json()['review_id']}",
                                               headers=police_system)
    listed = await commissioning.client.get("/reviews", headers=token_issuer.headers(HEALTH_LEAD))

    assert notified.status_code == 201
    assert in_another_name.status_code == 403
    assert (read_back.status_code, listed.status_code) == (403, 403)
    history = (await commissioning.client.get(f"/reviews/{notified.json()['review_id']}/events")
               ).json()["events"]
    assert history[0]["actor"] == POLICE_SYSTEM[2]
    assert history[0]["actor_organisation"] == POLICE


async def test_oversight_reads_every_area_and_operators_only_import_history(
        commissioning: RunningService, token_issuer: TestIssuer) -> None:
    await commissioning.client.post("/reviews", json=notification())
    await commissioning.client.post("/reviews", json=notification(csp_area="Suffolk"),
                                    headers=token_issuer.headers(REVIEW_MANAGER_SUFFOLK))
    historic = {"source_reference": "AUTH-1", "death_year": 2019, "csp": "Leeds"}

    everything = await commissioning.client.get("/reviews", headers=token_issuer.headers(OVERSIGHT))
    admin_reads = await commissioning.client.get("/reviews", headers=token_issuer.headers(ADMIN))
    manager_imports = await commissioning.client.post("/historic-reviews", json=historic)

    assert everything.json()["total"] == 2
    assert admin_reads.status_code == 403
    assert manager_imports.status_code == 403


# --- panel --------------------------------------------------------------------------------------


async def a_panel_with_two_imrs(panel: RunningPanel, bootstrap: str) -> tuple[uuid.UUID, str, str]:
    """A Norfolk panel chaired by CHAIR, with the police and health on it and an IMR asked of
    each; returns the review and the police's and health's request ids."""
    review_id = await a_commissioned_review(bootstrap, "Norfolk", CHAIR[2])

    async def chaired() -> bool:
        response = await panel.client.get(f"/panels/{review_id}")
        return response.status_code == 200 and response.json()["chair"] is not None

    await eventually(chaired, timeout=60)
    ids = []
    for agency, sector in ((POLICE, "police"), (HEALTH, "health")):
        joined = await panel.client.post(f"/panels/{review_id}/members", json={
            "joined_on": "2026-03-01", "agency": agency, "sector": sector})
        assert joined.status_code == 200, joined.text
        asked = await panel.client.post(f"/panels/{review_id}/requests", json={
            "kind": "imr", "agency": agency, "requested_on": "2026-03-02", "due_on": "2026-04-02"})
        ids.append(asked.json()["request_id"])
    return review_id, ids[0], ids[1]


async def test_an_agency_sees_and_submits_only_its_own_requests_never_another_agencys_imr(
        panel: RunningPanel, kafka_bootstrap: str, token_issuer: TestIssuer) -> None:
    review_id, police_imr, health_imr = await a_panel_with_two_imrs(panel, kafka_bootstrap)
    police = token_issuer.headers(POLICE_LEAD)
    base = f"/panels/{review_id}"

    view = (await panel.client.get(base, headers=police)).json()
    listed = (await panel.client.get(f"{base}/requests", headers=police)).json()
    asked_for_health = (await panel.client.get(f"{base}/requests?agency={HEALTH}",
                                               headers=police)).json()
    assert [r["request_id"] for r in view["requests"]] == [police_imr]
    assert [r["request_id"] for r in listed["items"]] == [police_imr]
    assert asked_for_health["items"] == []
    assert {m["agency"] for m in view["members"]} == {POLICE, HEALTH}  # the panel is shared
    assert (await panel.client.get(f"{base}/events", headers=police)).status_code == 403

    submission = {"submitted_on": "2026-03-20"}
    made_up = uuid.uuid4()
    others = await panel.client.post(f"{base}/requests/{health_imr}/submission", json=submission,
                                     headers=police)
    unknown = await panel.client.post(f"{base}/requests/{made_up}/submission", json=submission,
                                      headers=police)
    assert_same_not_found(others, health_imr, unknown, made_up)
    own = await panel.client.post(f"{base}/requests/{police_imr}/submission", json=submission,
                                  headers=token_issuer.headers(POLICE_SYSTEM))
    assert own.status_code == 200, own.text
    assert (await panel.client.get(base, headers=token_issuer.headers(POLICE_SYSTEM))
            ).status_code == 403  # a case system submits; it does not read the panel
    refused = await panel.client.post(f"{base}/members", headers=police, json={
        "joined_on": "2026-03-05", "agency": "Police Federation", "sector": "police"})
    assert refused.status_code == 403


async def test_a_panel_is_hidden_from_those_who_are_not_on_it(
        panel: RunningPanel, kafka_bootstrap: str, token_issuer: TestIssuer) -> None:
    review_id, _, _ = await a_panel_with_two_imrs(panel, kafka_bootstrap)
    made_up = uuid.uuid4()
    stranger = token_issuer.headers(HOUSING_LEAD)  # an agency not on this panel
    suffolk = token_issuer.headers(REVIEW_MANAGER_SUFFOLK)
    other_chair = token_issuer.headers(role="chair", organisation="Chairs", subject="chair-sam")

    for who in (stranger, suffolk, other_chair):
        assert_same_not_found(
            await panel.client.get(f"/panels/{review_id}", headers=who), review_id,
            await panel.client.get(f"/panels/{made_up}", headers=who), made_up)
    body = {"issued_on": "2026-03-01", "period_from": "2021-01-01", "period_to": "2026-02-10",
            "lines_of_enquiry": ["Why?"], "family_consulted": False}
    assert_same_not_found(
        await panel.client.post(f"/panels/{review_id}/terms-of-reference", json=body,
                                headers=suffolk), review_id,
        await panel.client.post(f"/panels/{made_up}/terms-of-reference", json=body,
                                headers=suffolk), made_up)
    by_the_chair = await panel.client.post(f"/panels/{review_id}/terms-of-reference", json=body,
                                           headers=token_issuer.headers(CHAIR))
    assert by_the_chair.status_code == 200, by_the_chair.text


async def test_the_family_record_is_kept_by_the_review_manager_and_chair_only(
        panel: RunningPanel, kafka_bootstrap: str, token_issuer: TestIssuer) -> None:
    review_id, _, _ = await a_panel_with_two_imrs(panel, kafka_bootstrap)
    family = f"/panels/{review_id}/family"
    person = {"recorded_on": "2026-03-01", "name": "Mary Example", "relationship": "parent"}

    by_the_chair = await panel.client.post(f"{family}/people", json=person,
                                           headers=token_issuer.headers(CHAIR))
    by_an_agency = await panel.client.post(f"{family}/people", json=person,
                                           headers=token_issuer.headers(POLICE_LEAD))
    read_by_an_agency = await panel.client.get(family, headers=token_issuer.headers(POLICE_LEAD))
    read_by_oversight = await panel.client.get(family, headers=token_issuer.headers(OVERSIGHT))
    made_up = uuid.uuid4()
    suffolk = token_issuer.headers(REVIEW_MANAGER_SUFFOLK)

    assert by_the_chair.status_code == 201, by_the_chair.text
    assert (by_an_agency.status_code, read_by_an_agency.status_code) == (403, 403)
    assert read_by_oversight.status_code == 200
    assert_same_not_found(
        await panel.client.get(family, headers=suffolk), review_id,
        await panel.client.get(f"/panels/{made_up}/family", headers=suffolk), made_up)


# --- learning -----------------------------------------------------------------------------------


async def test_agencies_take_part_in_learning_only_for_themselves_and_where_invited(
        learning: RunningService, kafka_bootstrap: str, token_issuer: TestIssuer) -> None:
    review_id = await a_commissioned_review(kafka_bootstrap, "Norfolk", CHAIR[2])
    chair, police = token_issuer.headers(CHAIR), token_issuer.headers(POLICE_LEAD)

    async def known_with_its_chair() -> bool:
        return (await learning.client.get(f"/reviews/{review_id}/learning",
                                          headers=chair)).status_code == 200

    await eventually(known_with_its_chair, timeout=60)
    base = f"/reviews/{review_id}/learning-events"
    planned = await learning.client.post(base, headers=chair, json={
        "planned_on": "2026-03-10", "facilitator_name": "Sam", "format": "online",
        "invited_agencies": [POLICE]})
    assert planned.status_code == 201, planned.text
    event_id = planned.json()["id"]
    acknowledge = f"{base}/{event_id}/ground-rules-acknowledgements"

    for_itself = await learning.client.post(acknowledge, json={"agency": POLICE}, headers=police)
    for_another = await learning.client.post(acknowledge, json={"agency": HEALTH}, headers=police)
    by_the_manager = await learning.client.post(acknowledge, json={"agency": POLICE})
    not_invited = await learning.client.post(acknowledge, json={"agency": HEALTH},
                                             headers=token_issuer.headers(HEALTH_LEAD))
    made_up = uuid.uuid4()
    unknown = await learning.client.post(f"{base}/{made_up}/ground-rules-acknowledgements",
                                         json={"agency": HEALTH},
                                         headers=token_issuer.headers(HEALTH_LEAD))

    assert for_itself.status_code == 200, for_itself.text
    assert for_another.status_code == 403
    assert by_the_manager.status_code == 403  # each agency acknowledges itself
    assert_same_not_found(not_invited, event_id, unknown, made_up)
    assert (await learning.client.get(f"{base}/{event_id}", headers=police)).status_code == 200
    assert (await learning.client.get(f"/reviews/{review_id}/learning", headers=police)
            ).status_code == 403
    history = (await learning.client.get(f"/reviews/{review_id}/learning/events")).json()
    acknowledged = history["events"][1]
    assert (acknowledged["actor"], acknowledged["actor_organisation"]) == (POLICE_LEAD[2], POLICE)


async def test_learning_points_are_searched_only_in_the_reviews_the_caller_may_read(
        learning: RunningService, kafka_bootstrap: str, token_issuer: TestIssuer) -> None:
    area = f"Norfolk-{uuid.uuid4().hex[:6]}"  # the topic is shared: an area of this test's own
    review_id = await a_commissioned_review(kafka_bootstrap, area)
    manager = token_issuer.headers(role="review_manager", organisation=area)

    async def commissioned() -> bool:
        response = await learning.client.get(f"/reviews/{review_id}/learning", headers=manager)
        return response.status_code == 200 and bool(response.json()["review"]["commissioned_on"])

    await eventually(commissioned, timeout=60)
    recorded = await learning.client.post(f"/reviews/{review_id}/learning-points", headers=manager,
                                          json={"recorded_on": "2026-03-20", "summary": "S.",
                                                "themes": ["training"]})
    assert recorded.status_code == 201, recorded.text

    async def found_by(headers: dict[str, str]) -> int:
        response = await learning.client.get(f"/learning-points?area={area}", headers=headers)
        assert response.status_code == 200, response.text
        return int(response.json()["total"])

    assert await found_by(manager) == 1
    assert await found_by(token_issuer.headers(OVERSIGHT)) == 1
    assert await found_by(token_issuer.headers(REVIEW_MANAGER_SUFFOLK)) == 0
    assert await found_by(token_issuer.headers(CHAIR)) == 0
    assert (await learning.client.get("/learning-points", headers=token_issuer.headers(POLICE_LEAD))
            ).status_code == 403
    plan = {"planned_on": "2026-03-10", "facilitator_name": "Sam", "format": "online",
            "invited_agencies": [POLICE]}
    made_up = uuid.uuid4()
    assert_same_not_found(
        await learning.client.post(f"/reviews/{review_id}/learning-events", json=plan), review_id,
        await learning.client.post(f"/reviews/{made_up}/learning-events", json=plan), made_up)


# --- recommendations ----------------------------------------------------------------------------


async def a_report_of_three(recommendations: RunningRecommendations, bootstrap: str
                            ) -> uuid.UUID:
    """A Norfolk review's agreed report: one recommendation to the police, one to health and
    housing, one to the Home Office."""
    review_id = await a_commissioned_review(bootstrap, "Norfolk")

    async def area_known() -> bool:
        return bool(await recommendations.runtime.pool.fetchval(
            "SELECT true FROM commissioning_review_areas WHERE review_id = $1", review_id))

    await eventually(area_known, timeout=60)
    agreed = ReviewReportAgreed(review_id=review_id, agreed_on=date(2026, 3, 2), report_version=1,
                                recommendations=(
        AgreedRecommendation(number=1, level=RecommendationLevel.LOCAL,
                             text="Norfolk Constabulary to train call handlers by March 2027.",
                             addressee_agencies=(POLICE,)),
        AgreedRecommendation(number=2, level=RecommendationLevel.LOCAL,
                             text="Health and housing to share risk information by June 2027.",
                             addressee_agencies=(HEALTH, "Norfolk Housing")),
        AgreedRecommendation(number=3, level=RecommendationLevel.NATIONAL,
                             text="The Home Office to publish stalking guidance in 2027.",
                             addressee_agencies=("Home Office",))))
    await publish(bootstrap, PANEL_EVENTS, envelope(agreed, 9, "/dhr/panel"))

    async def recorded() -> bool:
        response = await recommendations.client.get(f"/reviews/{review_id}/recommendations")
        return len(response.json()["items"]) == 3

    await eventually(recorded, timeout=60)
    return review_id


async def test_an_addressee_sees_and_answers_only_its_own_recommendations(
        recommendations: RunningRecommendations, kafka_bootstrap: str,
        token_issuer: TestIssuer) -> None:
    review_id = await a_report_of_three(recommendations, kafka_bootstrap)
    to_police, shared, national = (str(recommendation_id_of(review_id, n)) for n in (1, 2, 3))
    police, health = token_issuer.headers(POLICE_LEAD), token_issuer.headers(HEALTH_LEAD)
    client = recommendations.client

    mine = (await client.get(f"/reviews/{review_id}/recommendations", headers=police)).json()
    plans = (await client.get("/action-plans", params={"review_id": str(review_id)},
                              headers=health)).json()
    assert [r["recommendation_id"] for r in mine["items"]] == [to_police]
    assert [(r["number"], r["addressee_id"]) for r in plans["items"]] == [(2, "norfolk-icb")]
    made_up = uuid.uuid4()
    assert_same_not_found(await client.get(f"/recommendations/{national}", headers=police),
                          national,
                          await client.get(f"/recommendations/{made_up}", headers=police),
                          made_up)

    answer = {"status": "accepted", "recorded_on": "2026-03-20"}
    own = await client.post(f"/recommendations/{shared}/addressees/norfolk-icb/responses",
                            json=answer, headers=health)
    for_co_addressee = await client.post(
        f"/recommendations/{shared}/addressees/norfolk-housing/responses", json=answer,
        headers=health)
    not_addressed = await client.post(
        f"/recommendations/{to_police}/addressees/norfolk-constabulary/responses", json=answer,
        headers=health)
    unknown = await client.post(
        f"/recommendations/{made_up}/addressees/norfolk-constabulary/responses", json=answer,
        headers=health)
    verifies_itself = await client.post(
        f"/recommendations/{shared}/addressees/norfolk-icb/verifications", headers=health,
        json={"status": "implemented", "verified_on": "2026-05-01", "verified_by": "ICB",
              "note": "Done."})
    assert own.status_code == 200, own.text
    assert for_co_addressee.status_code == 403
    assert_same_not_found(not_addressed, to_police, unknown, made_up)
    assert verifies_itself.status_code == 403
    events = (await client.get(f"/recommendations/{shared}/events")).json()["events"]
    assert (events[-1]["actor"], events[-1]["actor_roles"]) == (HEALTH_LEAD[2], ["agency_lead"])


async def test_another_areas_csp_and_the_chair_see_no_recommendations_but_read_the_library(
        recommendations: RunningRecommendations, kafka_bootstrap: str,
        token_issuer: TestIssuer) -> None:
    review_id = await a_report_of_three(recommendations, kafka_bootstrap)
    to_police = recommendation_id_of(review_id, 1)
    suffolk, chair = token_issuer.headers(REVIEW_MANAGER_SUFFOLK), token_issuer.headers(CHAIR)
    client = recommendations.client
    made_up = uuid.uuid4()

    assert (await client.get(f"/reviews/{review_id}/recommendations", headers=suffolk)
            ).json()["items"] == []
    assert (await client.get("/action-plans", params={"review_id": str(review_id)},
                             headers=suffolk)).json()["items"] == []
    assert_same_not_found(
        await client.post(f"/recommendations/{to_police}/deadline-checks", headers=suffolk),
        to_police,
        await client.post(f"/recommendations/{made_up}/deadline-checks", headers=suffolk),
        made_up)
    assert (await client.get(f"/recommendations/{to_police}", headers=chair)).status_code == 403
    assert (await client.get("/library/search?q=stalking", headers=chair)).status_code == 200
    assert (await client.get("/library/search", headers=token_issuer.headers(POLICE_SYSTEM))
            ).status_code == 403
    direct = {"review_id": str(review_id), "text": "T to do X by 2027.", "level": "local",
              "themes": ["policy"], "addressees": [{"name": POLICE}], "issued_on": "2026-03-02",
              "csp_area": "Suffolk"}
    assert (await client.post("/recommendations", json=direct, headers=suffolk)).status_code == 403


# --- oversight ----------------------------------------------------------------------------------


async def test_a_review_manager_reads_their_own_areas_history_but_not_the_ledgers_events(
        oversight: RunningOversight, token_issuer: TestIssuer) -> None:
    topic = oversight.settings.oversight_topics[0]
    norfolk, suffolk_review = str(uuid.uuid4()), str(uuid.uuid4())
    notified = [Envelope(id=uuid.uuid4(), source="/dhr/commissioning",
                         type="dhr.commissioning.NotificationReceived.v1", subject=review,
                         time=datetime(2026, 3, 1, tzinfo=UTC), stream=f"review-{review}",
                         streamversion=1, correlationid=uuid.uuid4(), actor="test",
                         data={"review_id": review, "csp_area": area})
                for review, area in ((norfolk, "Norfolk"), (suffolk_review, "Suffolk"))]
    await oversight.publish(topic, *notified)
    await oversight.wait_for_ledger_size(2)
    manager = token_issuer.headers(REVIEW_MANAGER_NORFOLK)
    made_up = str(uuid.uuid4())

    own = await oversight.client.get(f"/reviews/{norfolk}/history", headers=manager)
    assert own.status_code == 200, own.text
    assert_same_not_found(
        await oversight.client.get(f"/reviews/{suffolk_review}/history", headers=manager),
        suffolk_review,
        await oversight.client.get(f"/reviews/{made_up}/history", headers=manager), made_up)
    assert (await oversight.client.get(f"/reviews/{suffolk_review}/history")).status_code == 200
    proof = await oversight.client.get("/proofs/inclusion",
                                       params={"event_id": str(notified[0].id)}, headers=manager)
    assert proof.status_code == 403
    for who in (manager, token_issuer.headers(POLICE_SYSTEM), token_issuer.headers(CHAIR)):
        assert (await oversight.client.get("/keys", headers=who)).status_code == 200
    assert (await oversight.client.get("/statistics/timeliness", headers=manager)
            ).status_code == 403
    signed = await oversight.client.post("/checkpoints", headers=oversight.operator)
    assert signed.status_code in (200, 201)  # the background task may have signed it first
    assert json.loads((await oversight.client.get("/ledger")).text)["latest_checkpoint_size"] == 2
