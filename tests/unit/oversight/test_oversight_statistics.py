"""Statutory timeliness from a list of events: decisions within a month, completion within six
months net of pauses, QA cycles, publication, recommendations overdue; per area and national."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from dhr_oversight import statistics
from dhr_oversight.statistics import NATIONAL, timeliness

AS_OF = date(2025, 12, 31)


def event(event_type: str, review: str, **data: Any) -> dict[str, Any]:
    return {"type": f"dhr.commissioning.{event_type}.v1", "subject": review,
            "data": {"review_id": review, **data}}


def notified(review: str, area: str, due: str) -> dict[str, Any]:
    return event("NotificationReceived", review, csp_area=area, decision_due_on=due)


def commissioned(review: str, decided: str, completion_due: str) -> dict[str, Any]:
    return event("ReviewCommissioned", review, decided_on=decided, completion_due_on=completion_due)


def row(report: statistics.TimelinessReport, area: str) -> dict[str, Any]:
    rows = {r.area: r.as_dict() for r in [*report.areas, report.national]}
    return rows[area]


def test_a_decision_on_or_before_the_due_date_is_within_time_and_one_after_is_late() -> None:
    events = [
        notified("r1", "Leeds", "2025-02-01"), commissioned("r1", "2025-02-01", "2025-08-01"),
        notified("r2", "Leeds", "2025-02-01"),
        event("DecidedNotToCommission", "r2", decided_on="2025-02-02"),
    ]
    leeds = row(timeliness(events, AS_OF), "Leeds")
    assert (leeds["decisions_made"], leeds["decisions_within_due"], leeds["decisions_late"]) == (2, 1, 1)
    assert leeds["decisions_within_due_percent"] == 50.0
    assert (leeds["commissioned"], leeds["not_commissioned"]) == (1, 1)


def test_an_undecided_review_is_pending_and_overdue_once_its_due_date_has_passed() -> None:
    events = [notified("r1", "Leeds", "2025-02-01"), notified("r2", "Leeds", "2026-02-01")]
    leeds = row(timeliness(events, AS_OF), "Leeds")
    assert (leeds["decisions_pending"], leeds["decisions_pending_overdue"]) == (2, 1)
    assert leeds["decisions_within_due_percent"] is None


def test_completion_is_the_first_submission_to_the_home_office_against_the_due_date_moved_by_pauses() -> None:
    events = [
        notified("r1", "Leeds", "2025-01-01"), commissioned("r1", "2025-01-01", "2025-07-01"),
        event("ReviewPaused", "r1", paused_on="2025-03-01"),
        event("ReviewResumed", "r1", resumed_on="2025-04-01", paused_on="2025-03-01",
              completion_due_on="2025-08-01"),
        event("ReportSubmittedToHomeOffice", "r1", submitted_on="2025-07-20", submission_number=1),
        event("ReportSubmittedToHomeOffice", "r1", submitted_on="2025-10-01", submission_number=2),
    ]
    leeds = row(timeliness(events, AS_OF), "Leeds")
    # Late against the six months from the decision, within time net of the month's pause.
    assert (leeds["completions"], leeds["completions_within_due"], leeds["completions_late"]) == (1, 1, 0)


def test_a_paused_review_is_never_overdue_and_a_running_one_is_once_past_its_due_date() -> None:
    events = [
        notified("r1", "Leeds", "2025-01-01"), commissioned("r1", "2025-01-01", "2025-07-01"),
        event("ReviewPaused", "r1", paused_on="2025-03-01"),
        notified("r2", "Leeds", "2025-01-01"), commissioned("r2", "2025-01-01", "2025-07-01"),
        notified("r3", "Leeds", "2025-11-01"), commissioned("r3", "2025-11-01", "2026-05-01"),
    ]
    leeds = row(timeliness(events, AS_OF), "Leeds")
    assert (leeds["paused"], leeds["in_progress"], leeds["in_progress_overdue"]) == (1, 2, 1)


def test_qa_cycles_count_the_changes_required_and_publication_days_run_from_the_decision() -> None:
    events = [
        notified("r1", "Leeds", "2025-01-01"), commissioned("r1", "2025-01-01", "2025-07-01"),
        event("QualityAssuranceOutcomeRecorded", "r1", outcome="changes_required"),
        event("QualityAssuranceOutcomeRecorded", "r1", outcome="changes_required"),
        event("QualityAssuranceOutcomeRecorded", "r1", outcome="approved_for_publication"),
        event("ReportPublished", "r1", published_on="2025-11-01"),
        notified("r2", "Leeds", "2025-01-01"), commissioned("r2", "2025-01-01", "2025-07-01"),
        event("QualityAssuranceOutcomeRecorded", "r2", outcome="approved_for_publication"),
    ]
    leeds = row(timeliness(events, AS_OF), "Leeds")
    assert leeds["qa_outcomes"] == 4
    assert leeds["qa_changes_required"] == 2
    assert leeds["reviews_with_changes_required"] == 1
    assert leeds["max_qa_cycles"] == 2
    assert leeds["published"] == 1
    assert leeds["median_days_decision_to_publication"] == 304.0
    # Published without a recorded submission: publication counts as completion.
    assert leeds["completions"] == 1


def test_recommendations_overdue_events_are_counted_by_the_area_of_their_review() -> None:
    events = [
        notified("r1", "Leeds", "2025-01-01"),
        {"type": "dhr.recommendations.RecommendationResponseOverdue.v1", "subject": "r1",
         "data": {"review_id": "r1"}},
        {"type": "dhr.recommendations.ActionOverdue.v1", "subject": "r1", "data": {"review_id": "r1"}},
        {"type": "dhr.recommendations.ActionOverdue.v1", "subject": "r1", "data": {"review_id": "r1"}},
        {"type": "dhr.recommendations.RecommendationAccepted.v1", "subject": "r1", "data": {}},
    ]
    leeds = row(timeliness(events, AS_OF), "Leeds")
    assert (leeds["recommendation_responses_overdue"], leeds["actions_overdue"]) == (1, 2)


def test_without_any_recommendations_events_the_counts_are_zero() -> None:
    leeds = row(timeliness([notified("r1", "Leeds", "2025-01-01")], AS_OF), "Leeds")
    assert (leeds["recommendation_responses_overdue"], leeds["actions_overdue"]) == (0, 0)


def test_the_national_row_adds_up_every_area_and_an_area_filter_keeps_the_national_row() -> None:
    events = [
        notified("r1", "Leeds", "2025-01-01"), commissioned("r1", "2025-01-01", "2025-07-01"),
        notified("r2", "York", "2025-01-01"), commissioned("r2", "2025-02-01", "2025-08-01"),
        notified("r3", "York", "2025-01-01"),
    ]
    report = timeliness(events, AS_OF)
    assert [r.area for r in report.areas] == ["Leeds", "York"]
    national = row(report, NATIONAL)
    assert (national["reviews_notified"], national["decisions_made"],
            national["decisions_within_due"], national["decisions_pending_overdue"]) == (3, 2, 1, 1)
    only_york = timeliness(events, AS_OF, area="York")
    assert [r.area for r in only_york.areas] == ["York"]
    assert only_york.national.reviews_notified == 3


def test_events_of_a_review_never_notified_count_under_an_unknown_area() -> None:
    report = timeliness([commissioned("r9", "2025-01-01", "2025-07-01")], AS_OF)
    assert [r.area for r in report.areas] == [statistics.UNKNOWN_AREA]
    assert report.areas[0].commissioned == 1


def test_the_csv_has_one_line_per_area_then_the_national_line_with_empty_cells_for_no_base() -> None:
    events = [notified("r1", "Leeds", "2025-01-01")]
    lines = list(csv.DictReader(io.StringIO(timeliness(events, AS_OF).to_csv())))
    assert [line["area"] for line in lines] == ["Leeds", NATIONAL]
    assert lines[0]["as_of"] == "2025-12-31"
    assert lines[0]["decisions_pending_overdue"] == "1"
    assert lines[0]["decisions_within_due_percent"] == ""
