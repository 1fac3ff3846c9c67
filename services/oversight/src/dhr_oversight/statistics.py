"""Statutory timeliness per CSP area and nationally, computed from the events in the ledger.

Definitions (what an oversight body reads the figures as):
- decision: the first ReviewCommissioned or DecidedNotToCommission; within time when its
  `decided_on` is on or before the notification's `decision_due_on` (one month by default);
  a review still undecided after that date is `pending overdue`.
- completion (commissioned reviews only): the first submission of the report to the Home Office
  (`ReportSubmittedToHomeOffice.submitted_on`), or the publication date when no submission is
  recorded; due on the latest `completion_due_on` (ReviewCommissioned, moved later by each
  ReviewResumed: six months net of pauses); a paused review is never overdue.
- quality assurance cycles: QualityAssuranceOutcomeRecorded events with `changes_required`.
- publication: ReportPublished, and the days from the decision to commission to publication.
- recommendations: RecommendationResponseOverdue and ActionOverdue events of the
  recommendations service, counted by the review they belong to.
Pure: no I/O; `as_of` (a date) comes from the caller's clock.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from typing import Any

NOTIFICATION_RECEIVED = "dhr.commissioning.NotificationReceived.v1"
REVIEW_COMMISSIONED = "dhr.commissioning.ReviewCommissioned.v1"
DECIDED_NOT_TO_COMMISSION = "dhr.commissioning.DecidedNotToCommission.v1"
REVIEW_PAUSED = "dhr.commissioning.ReviewPaused.v1"
REVIEW_RESUMED = "dhr.commissioning.ReviewResumed.v1"
REPORT_SUBMITTED = "dhr.commissioning.ReportSubmittedToHomeOffice.v1"
QA_OUTCOME_RECORDED = "dhr.commissioning.QualityAssuranceOutcomeRecorded.v1"
REPORT_PUBLISHED = "dhr.commissioning.ReportPublished.v1"
# The recommendations service's overdue events, counted by name so that statistics work (with
# zeros) before or without that service.
RESPONSE_OVERDUE_NAME = "RecommendationResponseOverdue"
ACTION_OVERDUE_NAME = "ActionOverdue"
RECOMMENDATIONS_PREFIX = "dhr.recommendations."

COMMISSIONING_TYPES = (NOTIFICATION_RECEIVED, REVIEW_COMMISSIONED, DECIDED_NOT_TO_COMMISSION,
                       REVIEW_PAUSED, REVIEW_RESUMED, REPORT_SUBMITTED, QA_OUTCOME_RECORDED,
                       REPORT_PUBLISHED)
RECOMMENDATIONS_OVERDUE_PATTERN = RECOMMENDATIONS_PREFIX + "%Overdue.v%"
"""A SQL LIKE pattern for the ledger query."""

NATIONAL = "national"
UNKNOWN_AREA = "unknown"


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _name_of(event_type: str) -> str:
    parts = event_type.split(".")
    return parts[-2] if len(parts) >= 3 else event_type


@dataclass
class ReviewTimeliness:
    """What the events say about one review's deadlines."""

    review_id: str
    area: str = UNKNOWN_AREA
    decision_due_on: date | None = None
    decision: str | None = None  # "commissioned" or "not_commissioned"
    decided_on: date | None = None
    completion_due_on: date | None = None
    paused: bool = False
    submitted_on: date | None = None
    published_on: date | None = None
    qa_outcomes: int = 0
    qa_changes_required: int = 0
    responses_overdue: int = 0
    actions_overdue: int = 0

    @property
    def notified(self) -> bool:
        return self.decision_due_on is not None

    def decision_status(self, as_of: date) -> str | None:
        """within, late, pending, pending_overdue; None when the notification is unknown."""
        if self.decision_due_on is None:
            return None
        if self.decided_on is None:
            return "pending_overdue" if as_of > self.decision_due_on else "pending"
        return "within" if self.decided_on <= self.decision_due_on else "late"

    @property
    def completed_on(self) -> date | None:
        return self.submitted_on or self.published_on

    def completion_status(self, as_of: date) -> str | None:
        """within, late, paused, in_progress, overdue; None unless commissioned."""
        if self.decision != "commissioned" or self.completion_due_on is None:
            return None
        completed = self.completed_on
        if completed is not None:
            return "within" if completed <= self.completion_due_on else "late"
        if self.paused:
            return "paused"
        return "overdue" if as_of > self.completion_due_on else "in_progress"

    @property
    def days_decision_to_publication(self) -> int | None:
        if self.decision != "commissioned" or self.decided_on is None or self.published_on is None:
            return None
        return (self.published_on - self.decided_on).days


def _apply(review: ReviewTimeliness, event_type: str, data: Mapping[str, Any]) -> None:
    if event_type == NOTIFICATION_RECEIVED:
        area = data.get("csp_area")
        if isinstance(area, str) and area:
            review.area = area
        review.decision_due_on = _date(data.get("decision_due_on"))
    elif event_type in (REVIEW_COMMISSIONED, DECIDED_NOT_TO_COMMISSION):
        if review.decision is None:
            review.decision = ("commissioned" if event_type == REVIEW_COMMISSIONED
                               else "not_commissioned")
            review.decided_on = _date(data.get("decided_on"))
            if event_type == REVIEW_COMMISSIONED:
                review.completion_due_on = _date(data.get("completion_due_on"))
    elif event_type == REVIEW_PAUSED:
        review.paused = True
    elif event_type == REVIEW_RESUMED:
        review.paused = False
        review.completion_due_on = _date(data.get("completion_due_on")) or review.completion_due_on
    elif event_type == REPORT_SUBMITTED:
        submitted = _date(data.get("submitted_on"))
        if submitted is not None and (review.submitted_on is None or submitted < review.submitted_on):
            review.submitted_on = submitted
    elif event_type == QA_OUTCOME_RECORDED:
        review.qa_outcomes += 1
        if data.get("outcome") == "changes_required":
            review.qa_changes_required += 1
    elif event_type == REPORT_PUBLISHED:
        published = _date(data.get("published_on"))
        if published is not None and (review.published_on is None or published < review.published_on):
            review.published_on = published
    elif event_type.startswith(RECOMMENDATIONS_PREFIX):
        name = _name_of(event_type)
        if name == RESPONSE_OVERDUE_NAME:
            review.responses_overdue += 1
        elif name == ACTION_OVERDUE_NAME:
            review.actions_overdue += 1


def reviews_from_events(events: Iterable[Mapping[str, Any]]) -> dict[str, ReviewTimeliness]:
    """Fold CloudEvents (JSON form, in ledger order) into each review's timeliness facts."""
    reviews: dict[str, ReviewTimeliness] = {}
    for event in events:
        data = event.get("data") or {}
        review_id = str(data.get("review_id") or event.get("subject") or "")
        if not review_id:
            continue
        review = reviews.setdefault(review_id, ReviewTimeliness(review_id))
        _apply(review, str(event.get("type", "")), data)
    return reviews


@dataclass
class TimelinessRow:
    """The statutory timeliness figures of one area (or `national`)."""

    area: str
    reviews_notified: int = 0
    decisions_made: int = 0
    decisions_within_due: int = 0
    decisions_late: int = 0
    decisions_within_due_percent: float | None = None
    decisions_pending: int = 0
    decisions_pending_overdue: int = 0
    commissioned: int = 0
    not_commissioned: int = 0
    completions: int = 0
    completions_within_due: int = 0
    completions_late: int = 0
    completions_within_due_percent: float | None = None
    in_progress: int = 0
    in_progress_overdue: int = 0
    paused: int = 0
    qa_outcomes: int = 0
    qa_changes_required: int = 0
    reviews_with_changes_required: int = 0
    max_qa_cycles: int = 0
    published: int = 0
    median_days_decision_to_publication: float | None = None
    recommendation_responses_overdue: int = 0
    actions_overdue: int = 0
    _days_to_publication: list[int] = field(default_factory=list, repr=False)

    def add(self, review: ReviewTimeliness, as_of: date) -> None:
        self.reviews_notified += review.notified
        decision = review.decision_status(as_of)
        if decision in ("within", "late"):
            self.decisions_made += 1
            self.decisions_within_due += decision == "within"
            self.decisions_late += decision == "late"
        elif decision is not None:
            self.decisions_pending += 1
            self.decisions_pending_overdue += decision == "pending_overdue"
        self.commissioned += review.decision == "commissioned"
        self.not_commissioned += review.decision == "not_commissioned"
        completion = review.completion_status(as_of)
        if completion in ("within", "late"):
            self.completions += 1
            self.completions_within_due += completion == "within"
            self.completions_late += completion == "late"
        elif completion == "paused":
            self.paused += 1
        elif completion in ("in_progress", "overdue"):
            self.in_progress += 1
            self.in_progress_overdue += completion == "overdue"
        self.qa_outcomes += review.qa_outcomes
        self.qa_changes_required += review.qa_changes_required
        self.reviews_with_changes_required += review.qa_changes_required > 0
        self.max_qa_cycles = max(self.max_qa_cycles, review.qa_changes_required)
        self.published += review.published_on is not None
        if review.days_decision_to_publication is not None:
            self._days_to_publication.append(review.days_decision_to_publication)
        self.recommendation_responses_overdue += review.responses_overdue
        self.actions_overdue += review.actions_overdue

    def finish(self) -> TimelinessRow:
        self.decisions_within_due_percent = _percent(self.decisions_within_due, self.decisions_made)
        self.completions_within_due_percent = _percent(self.completions_within_due,
                                                       self.completions)
        if self._days_to_publication:
            self.median_days_decision_to_publication = float(
                statistics.median(self._days_to_publication))
        return self

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values.pop("_days_to_publication")
        return values


def _percent(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100.0 * part / whole, 1)


COLUMNS = tuple(f.name for f in fields(TimelinessRow) if not f.name.startswith("_"))


@dataclass(frozen=True)
class TimelinessReport:
    as_of: date
    areas: list[TimelinessRow]
    national: TimelinessRow

    def as_json(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(),
                "areas": [row.as_dict() for row in self.areas],
                "national": self.national.as_dict()}

    def to_csv(self) -> str:
        """One line per area, then the national line; empty cells for figures without a base."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["as_of", *COLUMNS])
        for row in [*self.areas, self.national]:
            values = row.as_dict()
            writer.writerow([self.as_of.isoformat(),
                             *("" if values[c] is None else values[c] for c in COLUMNS)])
        return out.getvalue()


def timeliness(events: Iterable[Mapping[str, Any]], as_of: date,
               area: str | None = None) -> TimelinessReport:
    """Timeliness per area (only `area` when given) and nationally, as of a date."""
    reviews = reviews_from_events(events)
    national = TimelinessRow(NATIONAL)
    by_area: dict[str, TimelinessRow] = {}
    for review in reviews.values():
        national.add(review, as_of)
        by_area.setdefault(review.area, TimelinessRow(review.area)).add(review, as_of)
    rows = [by_area[name].finish() for name in sorted(by_area) if area is None or name == area]
    if area is not None and not rows:
        rows = [TimelinessRow(area).finish()]
    return TimelinessReport(as_of, rows, national.finish())
