"""From the report the panel agreed to publication: sign-off, Home Office quality assurance,
publication and copies to oversight bodies. Given events, when a command, then events."""

from datetime import date
from uuid import UUID

import pytest
from commissioning_givens import (
    AGREED_ON,
    CHECKSUM,
    REVIEW_ID,
    a_commissioned_review,
    a_notified_review,
    a_published_report,
    a_report_with_changes_required,
    a_review_not_commissioned,
    a_review_with_an_agreed_report,
    a_signed_off_report,
    a_submitted_report,
    an_approved_report,
    approve,
    deliver_report,
    publish_report,
    record_outcome,
    record_report_agreed,
    sign_off_report,
    submit_to_home_office,
    then,
    when,
)
from pydantic import ValidationError

from dhr_commissioning.domain import (
    InvalidCommand,
    PauseReview,
    QualityAssuranceOutcomeAlreadyRecorded,
    ReportAlreadyApproved,
    ReportAlreadyPublished,
    ReportAlreadySignedOff,
    ReportNotAgreed,
    ReportNotAnonymised,
    ReportNotApproved,
    ReportNotPublished,
    ReportNotSignedOff,
    ReviewIsPaused,
    ReviewNotCommissioned,
    ReviewNotFound,
    SubmissionAwaitingOutcome,
    SubmissionNotFound,
)
from dhr_contracts.commissioning import (
    PauseReason,
    QualityAssuranceOutcome,
    QualityAssuranceOutcomeRecorded,
    ReportAgreementRecorded,
    ReportDelivered,
    ReportPublished,
    ReportRecipient,
    ReportSignedOff,
    ReportSubmittedToHomeOffice,
)

PANEL_EVENT_ID = UUID("0b7e2c9a-3f1d-4e8b-9c6a-5d4e3f2a1b00")


# ---------------------------------------------------------------------------- report agreed


def test_the_panels_agreement_is_recorded_with_version_date_and_recommendation_count() -> None:
    events = when(record_report_agreed(panel_event_id=PANEL_EVENT_ID), a_commissioned_review())

    assert events == [ReportAgreementRecorded(
        review_id=REVIEW_ID, agreed_on=AGREED_ON, report_version=3, recommendation_count=7,
        panel_event_id=PANEL_EVENT_ID)]


def test_the_same_agreement_delivered_again_records_nothing() -> None:
    assert when(record_report_agreed(), a_review_with_an_agreed_report()) == []


def test_an_older_report_version_arriving_late_records_nothing() -> None:
    assert when(record_report_agreed(report_version=2), a_review_with_an_agreed_report()) == []


def test_a_revised_report_agreed_after_changes_were_required_is_recorded() -> None:
    events = when(record_report_agreed(report_version=4, agreed_on=date(2025, 9, 10)),
                  a_report_with_changes_required())

    assert [type(e) for e in events] == [ReportAgreementRecorded]
    assert isinstance(events[0], ReportAgreementRecorded)
    assert events[0].report_version == 4


def test_a_revised_report_is_refused_while_a_submission_awaits_its_outcome() -> None:
    with pytest.raises(SubmissionAwaitingOutcome) as refused:
        when(record_report_agreed(report_version=4), a_submitted_report())

    assert refused.value.field == "home_office_submissions"


def test_a_revised_report_is_refused_once_approved_or_published() -> None:
    with pytest.raises(ReportAlreadyApproved):
        when(record_report_agreed(report_version=4), an_approved_report())
    with pytest.raises(ReportAlreadyPublished) as refused:
        when(record_report_agreed(report_version=4), a_published_report())

    assert refused.value.field == "publication"


def test_an_agreement_for_an_unknown_review_is_refused() -> None:
    with pytest.raises(ReviewNotFound) as refused:
        when(record_report_agreed(), given=[])

    assert refused.value.field == "review_id"


def test_an_agreement_for_a_review_never_commissioned_is_refused() -> None:
    with pytest.raises(ReviewNotCommissioned):
        when(record_report_agreed(), a_notified_review())
    with pytest.raises(ReviewNotCommissioned):
        when(record_report_agreed(), a_review_not_commissioned())


def test_an_agreement_dated_before_the_commission_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(record_report_agreed(agreed_on=date(2025, 3, 1)), a_commissioned_review())

    assert refused.value.field == "agreed_on"


def test_an_agreement_is_recorded_while_the_review_is_paused() -> None:
    paused = then(a_commissioned_review(), PauseReview(
        review_id=REVIEW_ID, paused_on=date(2025, 4, 1), reason=PauseReason.INQUEST))

    assert [type(e) for e in when(record_report_agreed(), paused)] == [ReportAgreementRecorded]


# ---------------------------------------------------------------------------------- sign-off


def test_the_csp_signs_off_the_agreed_report_version() -> None:
    events = when(sign_off_report(), a_review_with_an_agreed_report())

    assert events == [ReportSignedOff(review_id=REVIEW_ID, signed_off_on=date(2025, 8, 5),
                                      signed_off_by="CSP chair, Northtown", report_version=3)]


def test_sign_off_before_the_report_was_agreed_is_refused() -> None:
    with pytest.raises(ReportNotAgreed) as refused:
        when(sign_off_report(), a_commissioned_review())

    assert refused.value.field == "report"


def test_signing_off_the_same_version_twice_is_refused() -> None:
    with pytest.raises(ReportAlreadySignedOff) as refused:
        when(sign_off_report(), a_signed_off_report())

    assert refused.value.field == "sign_off"


def test_a_sign_off_dated_before_the_agreement_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(sign_off_report(signed_off_on=date(2025, 7, 31)), a_review_with_an_agreed_report())

    assert refused.value.field == "signed_off_on"


def test_a_blank_signatory_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(sign_off_report(signed_off_by="   "), a_review_with_an_agreed_report())

    assert refused.value.field == "signed_off_by"


def test_sign_off_waits_while_the_review_is_paused() -> None:
    paused = then(a_review_with_an_agreed_report(), PauseReview(
        review_id=REVIEW_ID, paused_on=date(2025, 8, 2), reason=PauseReason.CRIMINAL_PROCEEDINGS))

    with pytest.raises(ReviewIsPaused) as refused:
        when(sign_off_report(), paused)

    assert refused.value.field == "status"


# -------------------------------------------------------------------------------- submission


def test_the_signed_off_report_is_submitted_as_submission_one() -> None:
    events = when(submit_to_home_office(), a_signed_off_report())

    assert events == [ReportSubmittedToHomeOffice(
        review_id=REVIEW_ID, submission_number=1, submitted_on=date(2025, 8, 10),
        report_version=3, resubmission=False)]


def test_submission_before_sign_off_is_refused() -> None:
    with pytest.raises(ReportNotSignedOff) as refused:
        when(submit_to_home_office(), a_review_with_an_agreed_report())

    assert refused.value.field == "sign_off"


def test_submission_before_the_report_was_agreed_is_refused() -> None:
    with pytest.raises(ReportNotAgreed):
        when(submit_to_home_office(), a_commissioned_review())


def test_a_submission_dated_before_the_sign_off_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(submit_to_home_office(submitted_on=date(2025, 8, 4)), a_signed_off_report())

    assert refused.value.field == "submitted_on"


def test_a_second_submission_while_the_first_awaits_its_outcome_is_refused() -> None:
    with pytest.raises(SubmissionAwaitingOutcome):
        when(submit_to_home_office(submitted_on=date(2025, 8, 11)), a_submitted_report())


def test_a_resubmission_after_changes_required_is_submission_two() -> None:
    events = when(submit_to_home_office(submitted_on=date(2025, 9, 15)),
                  a_report_with_changes_required())

    assert events == [ReportSubmittedToHomeOffice(
        review_id=REVIEW_ID, submission_number=2, submitted_on=date(2025, 9, 15),
        report_version=3, resubmission=True)]


def test_a_resubmission_dated_before_the_changes_were_required_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(submit_to_home_office(submitted_on=date(2025, 8, 20)),
             a_report_with_changes_required())

    assert refused.value.field == "submitted_on"


def test_a_revised_report_must_be_signed_off_before_it_is_resubmitted() -> None:
    revised = then(a_report_with_changes_required(),
                   record_report_agreed(report_version=4, agreed_on=date(2025, 9, 10)))

    with pytest.raises(ReportNotSignedOff):
        when(submit_to_home_office(submitted_on=date(2025, 9, 15)), revised)

    signed = then(revised, sign_off_report(signed_off_on=date(2025, 9, 12)))
    events = when(submit_to_home_office(submitted_on=date(2025, 9, 15)), signed)
    assert isinstance(events[0], ReportSubmittedToHomeOffice)
    assert (events[0].submission_number, events[0].report_version) == (2, 4)


def test_submitting_an_approved_report_again_is_refused() -> None:
    with pytest.raises(ReportAlreadyApproved):
        when(submit_to_home_office(submitted_on=date(2025, 9, 15)), an_approved_report())


# ------------------------------------------------------------------------------- QA outcomes


def test_changes_required_are_recorded_with_their_itemised_areas() -> None:
    events = when(record_outcome(areas_for_development=("  Action plan lacks dates ",)),
                  a_submitted_report())

    assert events == [QualityAssuranceOutcomeRecorded(
        review_id=REVIEW_ID, submission_number=1, decided_on=date(2025, 9, 1),
        outcome=QualityAssuranceOutcome.CHANGES_REQUIRED,
        areas_for_development=("Action plan lacks dates",), report_version=3)]


def test_changes_required_without_any_area_for_development_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(record_outcome(areas_for_development=()), a_submitted_report())

    assert refused.value.field == "areas_for_development"


def test_a_blank_area_for_development_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(record_outcome(areas_for_development=("Dates", " ")), a_submitted_report())

    assert refused.value.field == "areas_for_development"


def test_an_approval_may_come_with_or_without_areas_for_development() -> None:
    assert [type(e) for e in when(approve(), a_submitted_report())] == [
        QualityAssuranceOutcomeRecorded]
    with_areas = when(approve(areas_for_development=("Consider a shorter summary",)),
                      a_submitted_report())
    assert isinstance(with_areas[0], QualityAssuranceOutcomeRecorded)
    assert with_areas[0].areas_for_development == ("Consider a shorter summary",)


def test_an_outcome_for_a_submission_never_made_is_refused() -> None:
    with pytest.raises(SubmissionNotFound) as refused:
        when(record_outcome(submission_number=2), a_submitted_report())

    assert refused.value.field == "submission_number"
    with pytest.raises(SubmissionNotFound):
        when(record_outcome(), a_signed_off_report())


def test_a_second_outcome_for_a_decided_submission_is_refused() -> None:
    with pytest.raises(QualityAssuranceOutcomeAlreadyRecorded) as refused:
        when(approve(), a_report_with_changes_required())

    assert refused.value.field == "submission_number"


def test_an_outcome_dated_before_its_submission_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(record_outcome(decided_on=date(2025, 8, 9)), a_submitted_report())

    assert refused.value.field == "decided_on"


def test_any_number_of_cycles_until_approval() -> None:
    history = then(
        a_report_with_changes_required(),
        submit_to_home_office(submitted_on=date(2025, 9, 15)),
        record_outcome(submission_number=2, decided_on=date(2025, 9, 30),
                       areas_for_development=("Still no dates on actions",)),
        submit_to_home_office(submitted_on=date(2025, 10, 5)),
        approve(submission_number=3, decided_on=date(2025, 10, 20)),
    )

    submissions = [e for e in history if isinstance(e, ReportSubmittedToHomeOffice)]
    outcomes = [e for e in history if isinstance(e, QualityAssuranceOutcomeRecorded)]
    assert [(s.submission_number, s.resubmission) for s in submissions] == [
        (1, False), (2, True), (3, True)]
    assert [o.outcome for o in outcomes] == [QualityAssuranceOutcome.CHANGES_REQUIRED] * 2 + [
        QualityAssuranceOutcome.APPROVED_FOR_PUBLICATION]


# ------------------------------------------------------------------------------- publication


def test_the_approved_anonymised_report_is_published() -> None:
    events = when(publish_report(), an_approved_report())

    assert events == [ReportPublished(
        review_id=REVIEW_ID, published_on=date(2025, 10, 1), report_version=3, anonymised=True,
        location="https://northtown.example/dhr/2025-01")]


def test_a_report_not_anonymised_is_never_published() -> None:
    with pytest.raises(ReportNotAnonymised) as refused:
        when(publish_report(anonymised=False), an_approved_report())

    assert refused.value.field == "anonymised"
    assert "anonymised" in refused.value.message


@pytest.mark.parametrize("history", [
    pytest.param(a_review_with_an_agreed_report, id="only agreed"),
    pytest.param(a_signed_off_report, id="signed off"),
    pytest.param(a_submitted_report, id="awaiting the outcome"),
    pytest.param(a_report_with_changes_required, id="changes required"),
])
def test_publication_before_approval_is_refused(history) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ReportNotApproved) as refused:
        when(publish_report(), history())

    assert refused.value.field == "home_office_submissions"


def test_publishing_twice_is_refused() -> None:
    with pytest.raises(ReportAlreadyPublished) as refused:
        when(publish_report(), a_published_report())

    assert refused.value.field == "publication"


def test_a_publication_dated_before_the_approval_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(publish_report(published_on=date(2025, 8, 31)), an_approved_report())

    assert refused.value.field == "published_on"


def test_a_blank_place_of_publication_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(publish_report(location="  "), an_approved_report())

    assert refused.value.field == "location"


def test_a_published_review_cannot_be_paused() -> None:
    with pytest.raises(ReportAlreadyPublished):
        when(PauseReview(review_id=REVIEW_ID, paused_on=date(2025, 10, 5),
                         reason=PauseReason.INQUEST), a_published_report())


# -------------------------------------------------------------------------------- deliveries


def test_a_copy_to_the_commissioner_is_recorded_with_its_checksum() -> None:
    events = when(deliver_report(sha256=CHECKSUM.upper()), a_published_report())

    assert events == [ReportDelivered(
        review_id=REVIEW_ID, recipient=ReportRecipient.DOMESTIC_ABUSE_COMMISSIONER,
        delivered_on=date(2025, 10, 2), document_version=3, sha256=CHECKSUM)]


def test_a_copy_to_the_secretary_of_state_is_recorded_too() -> None:
    events = when(deliver_report(recipient="secretary_of_state"), a_published_report())

    assert isinstance(events[0], ReportDelivered)
    assert events[0].recipient is ReportRecipient.SECRETARY_OF_STATE


def test_a_delivery_before_publication_is_refused() -> None:
    with pytest.raises(ReportNotPublished) as refused:
        when(deliver_report(), an_approved_report())

    assert refused.value.field == "publication"


def test_a_delivery_of_another_version_than_the_published_one_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(deliver_report(document_version=2), a_published_report())

    assert refused.value.field == "document_version"


def test_a_delivery_dated_before_publication_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(deliver_report(delivered_on=date(2025, 9, 30)), a_published_report())

    assert refused.value.field == "delivered_on"


@pytest.mark.parametrize("checksum", ["abc", "g" * 64, CHECKSUM + "0", " " + CHECKSUM[1:]])
def test_a_checksum_that_is_not_64_hexadecimal_characters_is_refused(checksum: str) -> None:
    with pytest.raises(ValidationError) as refused:
        deliver_report(sha256=checksum)

    assert refused.value.errors()[0]["loc"] == ("sha256",)


def test_the_same_copy_recorded_again_adds_nothing_but_a_resend_is_recorded() -> None:
    delivered = then(a_published_report(), deliver_report())

    assert when(deliver_report(), delivered) == []
    assert len(when(deliver_report(delivered_on=date(2025, 10, 9)), delivered)) == 1
