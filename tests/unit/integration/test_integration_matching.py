"""Whom an event concerns: named agencies, and agencies named by earlier events."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from dhr_contracts import commissioning, panel, recommendations
from dhr_contracts.registry import EVENT_TYPES
from dhr_integration.domain import (
    KIND_OF_EVENT_TYPE,
    ByAddressee,
    ByNotification,
    ByRequest,
    EventKind,
    Named,
    NotifyingAgency,
    RecommendationAddressee,
    RequestAgency,
    concern_of,
    event_types_of,
    facts_of,
    organisation_key,
)

REVIEW = uuid.uuid4()
REQUEST = uuid.uuid4()
RECOMMENDATION = uuid.uuid4()


def requested(agency: str = "Norfolk Constabulary") -> panel.InformationRequested:
    return panel.InformationRequested(
        review_id=REVIEW, request_id=REQUEST, kind=panel.InformationRequestKind.CHRONOLOGY,
        agency=agency, agency_is_panel_member=False, requested_on=date(2026, 3, 2),
        due_on=date(2026, 4, 2))


def recorded() -> recommendations.RecommendationRecorded:
    return recommendations.RecommendationRecorded(
        recommendation_id=RECOMMENDATION, review_id=REVIEW,
        source=recommendations.RecommendationSource.DIRECT, text="Train call handlers.",
        level=recommendations.RecommendationLevel.LOCAL,
        themes=(recommendations.RecommendationTheme.TRAINING,), tags=(),
        addressees=tuple(recommendations.Addressee(
            addressee_id=slug, name=name, addressee_type=recommendations.AddresseeType.POLICE,
            response_due_on=date(2026, 6, 1))
            for slug, name in [("police", "Norfolk Constabulary"), ("icb", "Norfolk ICB")]),
        issued_on=date(2026, 3, 2), smart=recommendations.SmartAssessment(score=100, findings=()))


def logged(direction: recommendations.CorrespondenceDirection
           ) -> recommendations.CorrespondenceLogged:
    return recommendations.CorrespondenceLogged(
        recommendation_id=RECOMMENDATION, review_id=REVIEW, addressee_id="police",
        entry_id=uuid.uuid4(), logged_on=date(2026, 4, 1), direction=direction,
        correspondent="Chief Inspector", summary="Asked for the action plan.")


def test_an_information_request_concerns_the_agency_it_names_and_is_remembered() -> None:
    event = requested()

    assert concern_of(event) == Named(("Norfolk Constabulary",))
    assert facts_of(event) == (RequestAgency(REVIEW, REQUEST, "Norfolk Constabulary"),)


def test_a_submission_concerns_the_agency_of_the_request_it_answers() -> None:
    submitted = panel.InformationSubmitted(review_id=REVIEW, request_id=REQUEST,
                                           submitted_on=date(2026, 3, 20),
                                           due_on=date(2026, 4, 2), late=False)

    assert concern_of(submitted) == ByRequest(REQUEST)
    assert facts_of(submitted) == ()


def test_a_recommendation_concerns_every_addressee_and_later_events_the_one_they_name() -> None:
    responded = recommendations.ResponseRecorded(
        recommendation_id=RECOMMENDATION, review_id=REVIEW, addressee_id="icb",
        previous_status=recommendations.ResponseStatus.AWAITING_RESPONSE,
        status=recommendations.ResponseStatus.ACCEPTED, recorded_on=date(2026, 4, 1))

    assert concern_of(recorded()) == Named(("Norfolk Constabulary", "Norfolk ICB"))
    assert facts_of(recorded()) == (
        RecommendationAddressee(RECOMMENDATION, "police", "Norfolk Constabulary"),
        RecommendationAddressee(RECOMMENDATION, "icb", "Norfolk ICB"))
    assert concern_of(responded) == ByAddressee(RECOMMENDATION, "icb")


def test_correspondence_goes_to_the_addressee_unless_it_is_internal() -> None:
    direction = recommendations.CorrespondenceDirection

    assert concern_of(logged(direction.FROM_ADDRESSEE)) == ByAddressee(RECOMMENDATION, "police")
    assert concern_of(logged(direction.INTERNAL)) is None


def test_the_decision_on_a_notification_concerns_the_agency_that_notified_the_death() -> None:
    notified = commissioning.NotificationReceived(
        review_id=REVIEW, received_at=datetime(2026, 2, 13, tzinfo=UTC),
        notifying_agency="Norfolk Constabulary", date_of_death=date(2026, 2, 10),
        csp_learned_on=date(2026, 2, 12), csp_area="Norfolk", victim_age=34,
        suspect_relationship="current_intimate_partner", circumstances="homicide",
        prior_agency_contact="yes", decision_due_months=1, decision_due_on=date(2026, 3, 12))
    decided = commissioning.DecidedNotToCommission(
        review_id=REVIEW, decided_on=date(2026, 3, 1), rationale="Criteria not met.",
        reasons=("not_eligible",), eligibility_outcome=commissioning.EligibilityOutcome.NOT_ELIGIBLE,
        overrides_eligibility_assessment=False, decided_after_due_date=False)

    assert concern_of(notified) == Named(("Norfolk Constabulary",))
    assert facts_of(notified) == (NotifyingAgency(REVIEW, "Norfolk Constabulary"),)
    assert concern_of(decided) == ByNotification(REVIEW)


def test_events_of_no_agency_concern_nobody() -> None:
    opened = panel.PanelOpened(review_id=REVIEW, opened_on=date(2026, 3, 1),
                               opened_because=panel.PanelOpenedBecause.REVIEW_COMMISSIONED)

    assert concern_of(opened) is None
    assert opened.event_type not in KIND_OF_EVENT_TYPE


@pytest.mark.parametrize("event_type", sorted(KIND_OF_EVENT_TYPE))
def test_every_event_type_of_a_kind_is_a_published_type(event_type: str) -> None:
    assert event_type in EVENT_TYPES
    assert event_type in event_types_of(KIND_OF_EVENT_TYPE[event_type])


def test_every_kind_has_event_types() -> None:
    assert all(event_types_of(kind) for kind in EventKind)


def test_organisation_names_compare_without_case_or_extra_spaces() -> None:
    assert organisation_key("  Norfolk   CONSTABULARY ") == organisation_key("Norfolk Constabulary")
    assert organisation_key("Norfolk Constabulary") != organisation_key("Suffolk Constabulary")
