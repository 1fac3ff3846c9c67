"""The report: numbered drafts shared with the panel, agreed once, on the latest draft."""

from datetime import date

import pytest
from panel_givens import (
    REVIEW_ID,
    a_balanced_panel,
    agree_report,
    share_draft,
    then,
    when,
)

from dhr_contracts.panel import (
    AgreedRecommendation,
    RecommendationLevel,
    ReportDraftShared,
    ReviewReportAgreed,
)
from dhr_panel.model import InvalidCommand, PanelNotOpen, ReportAlreadyAgreed

RECOMMENDATION = AgreedRecommendation(
    number=1, text="Train response officers in coercive control by 2026.",
    addressee_agencies=("Northshire Police",), level=RecommendationLevel.LOCAL)


def a_shared_draft() -> list:
    return then(a_balanced_panel(), share_draft())


def test_the_first_draft_is_version_one_with_numbered_recommendations() -> None:
    assert when(share_draft(), a_balanced_panel()) == [ReportDraftShared(
        review_id=REVIEW_ID, version=1, shared_on=date(2025, 9, 1),
        summary="Jane's contact with agencies over five years.",
        recommendations=(RECOMMENDATION,))]
    assert "summary" in ReportDraftShared.personal_fields()


def test_later_drafts_take_the_next_version() -> None:
    event = when(share_draft(shared_on=date(2025, 9, 15)), a_shared_draft())[0]
    assert isinstance(event, ReportDraftShared) and event.version == 2


def test_a_recommendation_without_an_addressee_is_refused() -> None:
    with pytest.raises(ValueError, match="addressee_agencies"):
        share_draft(recommendations=[{"text": "Do better.", "addressee_agencies": [],
                                      "level": "local"}])


def test_a_blank_recommendation_is_refused_naming_it() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(share_draft(recommendations=[{"text": " ", "addressee_agencies": ["A"],
                                           "level": "national"}]), a_balanced_panel())
    assert refused.value.field == "recommendations.0.text"


def test_agreeing_the_latest_draft_publishes_its_recommendations() -> None:
    assert when(agree_report(), a_shared_draft()) == [ReviewReportAgreed(
        review_id=REVIEW_ID, agreed_on=date(2025, 10, 1), report_version=1,
        recommendations=(RECOMMENDATION,))]


def test_a_report_is_agreed_once() -> None:
    with pytest.raises(ReportAlreadyAgreed):
        when(agree_report(), then(a_shared_draft(), agree_report()))


def test_no_draft_is_shared_after_agreement() -> None:
    with pytest.raises(ReportAlreadyAgreed):
        when(share_draft(shared_on=date(2025, 11, 1)), then(a_shared_draft(), agree_report()))


def test_a_draft_that_does_not_exist_cannot_be_agreed() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(agree_report(report_version=2), a_shared_draft())
    assert refused.value.field == "report_version"


def test_a_superseded_draft_cannot_be_agreed() -> None:
    history = then(a_shared_draft(), share_draft(shared_on=date(2025, 9, 15)))
    with pytest.raises(InvalidCommand, match="superseded"):
        when(agree_report(report_version=1), history)


def test_nothing_can_be_agreed_before_a_draft_is_shared() -> None:
    with pytest.raises(InvalidCommand):
        when(agree_report(), a_balanced_panel())


def test_agreement_before_the_draft_was_shared_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(agree_report(agreed_on=date(2025, 8, 31)), a_shared_draft())
    assert refused.value.field == "agreed_on"


def test_the_report_needs_an_open_panel() -> None:
    with pytest.raises(PanelNotOpen):
        when(share_draft(), [])
