"""Agency information requests: requested, submitted, returned, and overdue once per due date."""

from datetime import date

import pytest
from panel_givens import (
    REQUEST_ID,
    REVIEW_ID,
    a_balanced_panel,
    an_open_panel,
    request_information,
    return_information,
    submit_information,
    then,
    when,
)

from dhr_contracts.panel import (
    InformationRequested,
    InformationRequestKind,
    InformationRequestOverdue,
    InformationReturnedForMoreWork,
    InformationSubmitted,
)
from dhr_panel.domain import fold
from dhr_panel.model import (
    DetectOverdueRequests,
    InformationNotAwaited,
    InformationNotSubmitted,
    InformationRequestNotFound,
    InvalidCommand,
    PanelNotOpen,
    RequestStatus,
)


def detect(as_of: date) -> DetectOverdueRequests:
    return DetectOverdueRequests(review_id=REVIEW_ID, as_of=as_of)


def an_imr_requested() -> list:
    return then(a_balanced_panel(), request_information())


def test_an_imr_is_requested_from_a_panel_member() -> None:
    assert when(request_information(agency="northshire police"), a_balanced_panel()) == [
        InformationRequested(
            review_id=REVIEW_ID, request_id=REQUEST_ID, kind=InformationRequestKind.IMR,
            agency="Northshire Police", agency_is_panel_member=True,
            requested_on=date(2025, 4, 15), due_on=date(2025, 6, 1))]


def test_an_agency_outside_the_panel_may_be_asked_and_the_event_says_so() -> None:
    event = when(request_information(agency="Riverside GP Practice", kind="chronology"),
                 a_balanced_panel())[0]
    assert isinstance(event, InformationRequested)
    assert not event.agency_is_panel_member


def test_a_due_date_before_the_request_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(request_information(due_on=date(2025, 4, 14)), a_balanced_panel())
    assert refused.value.field == "due_on"


def test_an_unknown_kind_is_refused_when_the_command_is_built() -> None:
    with pytest.raises(ValueError, match="kind"):
        request_information(kind="essay")


def test_a_request_id_is_used_once() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(request_information(), an_imr_requested())
    assert refused.value.field == "request_id"


def test_a_submission_on_time_is_not_late() -> None:
    assert when(submit_information(), an_imr_requested()) == [InformationSubmitted(
        review_id=REVIEW_ID, request_id=REQUEST_ID, submitted_on=date(2025, 5, 30),
        due_on=date(2025, 6, 1), late=False)]


def test_a_submission_after_the_due_date_is_late() -> None:
    event = when(submit_information(submitted_on=date(2025, 6, 2)), an_imr_requested())[0]
    assert isinstance(event, InformationSubmitted) and event.late


def test_a_request_cannot_be_submitted_twice() -> None:
    with pytest.raises(InformationNotAwaited):
        when(submit_information(), then(an_imr_requested(), submit_information()))


def test_a_submission_of_an_unknown_request_is_refused() -> None:
    with pytest.raises(InformationRequestNotFound):
        when(submit_information(), a_balanced_panel())


def test_a_submitted_request_is_returned_for_more_work_with_a_new_due_date() -> None:
    history = then(an_imr_requested(), submit_information())

    events = when(return_information(), history)

    assert events == [InformationReturnedForMoreWork(
        review_id=REVIEW_ID, request_id=REQUEST_ID, returned_on=date(2025, 6, 5),
        reasons=("The chronology stops in 2023.",), due_on=date(2025, 7, 1))]
    request = fold(history + events).request(REQUEST_ID)
    assert request is not None
    assert request.status is RequestStatus.RETURNED and request.due_on == date(2025, 7, 1)


def test_a_request_not_submitted_cannot_be_returned() -> None:
    with pytest.raises(InformationNotSubmitted):
        when(return_information(), an_imr_requested())


def test_a_return_needs_a_new_due_date_after_it() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(return_information(due_on=date(2025, 6, 5)),
             then(an_imr_requested(), submit_information()))
    assert refused.value.field == "due_on"


def test_a_return_needs_reasons_that_are_not_blank() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(return_information(reasons=[" "]), then(an_imr_requested(), submit_information()))
    assert refused.value.field == "reasons"


def test_a_returned_request_can_be_submitted_again() -> None:
    history = then(an_imr_requested(), submit_information(), return_information())
    events = when(submit_information(submitted_on=date(2025, 6, 20)), history)
    assert [type(e) for e in events] == [InformationSubmitted]


def test_nothing_is_overdue_on_its_due_date() -> None:
    assert when(detect(date(2025, 6, 1)), an_imr_requested()) == []


def test_a_request_past_its_due_date_is_overdue() -> None:
    assert when(detect(date(2025, 6, 2)), an_imr_requested()) == [InformationRequestOverdue(
        review_id=REVIEW_ID, request_id=REQUEST_ID, kind=InformationRequestKind.IMR,
        agency="Northshire Police", due_on=date(2025, 6, 1), detected_on=date(2025, 6, 2))]


def test_overdue_is_recorded_once_per_due_date() -> None:
    history = then(an_imr_requested(), detect(date(2025, 6, 2)))
    assert when(detect(date(2025, 6, 30)), history) == []


def test_a_returned_request_is_overdue_again_against_its_new_due_date() -> None:
    history = then(an_imr_requested(), detect(date(2025, 6, 2)), submit_information(
        submitted_on=date(2025, 6, 3)), return_information())

    events = when(detect(date(2025, 7, 2)), history)

    assert [e.due_on for e in events if isinstance(e, InformationRequestOverdue)] == [
        date(2025, 7, 1)]


def test_a_submitted_request_is_never_overdue() -> None:
    assert when(detect(date(2025, 8, 1)), then(an_imr_requested(), submit_information())) == []


def test_the_check_on_a_panel_that_is_not_open_records_nothing() -> None:
    assert when(detect(date(2025, 8, 1)), []) == []


def test_requests_need_an_open_panel() -> None:
    with pytest.raises(PanelNotOpen):
        when(request_information(), [])


def test_any_named_agency_may_be_asked_on_a_panel_without_members() -> None:
    assert len(when(request_information(), an_open_panel())) == 1
