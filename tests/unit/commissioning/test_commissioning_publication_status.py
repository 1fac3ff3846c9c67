"""Where a review stands from agreed report to publication, and when its completion is overdue."""

from datetime import date

import pytest
from commissioning_givens import (
    REVIEW_ID,
    a_commissioned_review,
    a_published_report,
    a_report_with_changes_required,
    a_review_with_an_agreed_report,
    a_signed_off_report,
    a_submitted_report,
    an_approved_report,
    deliver_report,
    publish_report,
    record_outcome,
    record_report_agreed,
    sign_off_report,
    submit_to_home_office,
    then,
)

from dhr_commissioning.domain import (
    COMPLETION_CLOCK_RUNNING,
    COMPLETION_OVERDUE,
    PauseReview,
    ResumeReview,
    ReviewState,
    ReviewStatus,
    fold,
    overdue,
)
from dhr_commissioning.projections import _OVERDUE_SQL, review_view
from dhr_contracts.commissioning import PauseReason, QualityAssuranceOutcome

COMPLETION_DUE_ON = date(2025, 9, 20)  # six months after the decision of 20 March 2025
LATE = date(2026, 1, 1)


@pytest.mark.parametrize(("history", "status"), [
    (a_commissioned_review, ReviewStatus.COMMISSIONED),
    (a_review_with_an_agreed_report, ReviewStatus.REPORT_AGREED),
    (a_signed_off_report, ReviewStatus.SIGNED_OFF),
    (a_submitted_report, ReviewStatus.SUBMITTED_TO_HOME_OFFICE),
    (a_report_with_changes_required, ReviewStatus.CHANGES_REQUIRED),
    (an_approved_report, ReviewStatus.APPROVED_FOR_PUBLICATION),
    (a_published_report, ReviewStatus.PUBLISHED),
])
def test_each_step_moves_the_status_on(history, status: ReviewStatus) -> None:  # type: ignore[no-untyped-def]
    assert fold(history()).status is status


def test_a_revised_report_agreed_after_changes_required_keeps_changes_required() -> None:
    state = fold(then(a_report_with_changes_required(),
                      record_report_agreed(report_version=4, agreed_on=date(2025, 9, 10))))

    assert state.status is ReviewStatus.CHANGES_REQUIRED
    assert state.report is not None and state.report.report_version == 4


def test_a_review_paused_after_its_report_was_agreed_resumes_where_it_stood() -> None:
    history = then(a_review_with_an_agreed_report(),
                   PauseReview(review_id=REVIEW_ID, paused_on=date(2025, 8, 2),
                               reason=PauseReason.CRIMINAL_PROCEEDINGS),
                   ResumeReview(review_id=REVIEW_ID, resumed_on=date(2025, 8, 4)),
                   sign_off_report())

    assert fold(history).status is ReviewStatus.SIGNED_OFF


def test_an_outcome_recorded_while_paused_shows_once_the_review_resumes() -> None:
    paused = then(a_submitted_report(),
                  PauseReview(review_id=REVIEW_ID, paused_on=date(2025, 8, 12),
                              reason=PauseReason.INQUEST),
                  record_outcome())
    assert fold(paused).status is ReviewStatus.PAUSED

    resumed = then(paused, ResumeReview(review_id=REVIEW_ID, resumed_on=date(2025, 9, 5)))
    assert fold(resumed).status is ReviewStatus.CHANGES_REQUIRED


def test_the_state_keeps_each_cycle_in_order_the_publication_and_deliveries() -> None:
    history = then(a_report_with_changes_required(),
                   submit_to_home_office(submitted_on=date(2025, 9, 15)),
                   record_outcome(submission_number=2, decided_on=date(2025, 9, 20),
                                  outcome="approved_for_publication", areas_for_development=()))
    state = fold(then(history, publish_report(), deliver_report()))

    assert [(s.submission_number, s.outcome) for s in state.home_office_submissions] == [
        (1, QualityAssuranceOutcome.CHANGES_REQUIRED),
        (2, QualityAssuranceOutcome.APPROVED_FOR_PUBLICATION)]
    assert state.home_office_submissions[0].areas_for_development == (
        "Action plan lacks dates", "Family voice under-represented")
    assert state.publication is not None and state.publication.report_version == 3
    assert [d.sha256 for d in state.deliveries] == [deliver_report().sha256]
    assert ReviewState.model_validate(state.model_dump(mode="json")) == state


def test_the_view_shows_report_cycles_publication_and_deliveries() -> None:
    view = review_view(fold(then(a_published_report(), deliver_report())), 12, LATE)

    assert view["report"] == {"report_version": 3, "agreed_on": "2025-08-01",
                              "recommendation_count": 7}
    assert view["sign_off"]["signed_off_by"] == "CSP chair, Northtown"
    assert [c["outcome"] for c in view["home_office_submissions"]] == [
        "approved_for_publication"]
    assert view["publication"]["location"] == "https://northtown.example/dhr/2025-01"
    assert view["deliveries"][0]["recipient"] == "domestic_abuse_commissioner"
    assert view["deadlines"]["overdue"] == []


@pytest.mark.parametrize("history", [
    a_review_with_an_agreed_report, a_signed_off_report, a_submitted_report,
    a_report_with_changes_required, an_approved_report,
])
def test_completion_stays_overdue_in_every_status_before_publication(history) -> None:  # type: ignore[no-untyped-def]
    state = fold(history())

    assert overdue(state, COMPLETION_DUE_ON) == []
    assert overdue(state, LATE) == [COMPLETION_OVERDUE]


def test_a_published_review_is_never_overdue() -> None:
    assert overdue(fold(a_published_report()), LATE) == []


def test_a_review_paused_during_quality_assurance_is_not_overdue() -> None:
    state = fold(then(a_submitted_report(), PauseReview(
        review_id=REVIEW_ID, paused_on=date(2025, 8, 12), reason=PauseReason.INQUEST)))

    assert overdue(state, LATE) == []


def test_the_list_query_counts_the_same_statuses_overdue_as_the_domain() -> None:
    named = {status for status in ReviewStatus if f"'{status.value}'" in _OVERDUE_SQL}

    assert named == COMPLETION_CLOCK_RUNNING | {ReviewStatus.AWAITING_DECISION}
    assert ReviewStatus.PUBLISHED not in COMPLETION_CLOCK_RUNNING
    assert ReviewStatus.PAUSED not in COMPLETION_CLOCK_RUNNING
