"""Terms of reference: numbered versions, a valid period, lines of enquiry."""

from datetime import date

import pytest
from panel_givens import REVIEW_ID, an_open_panel, issue_terms, then, when

from dhr_contracts.panel import TermsOfReferenceIssued
from dhr_panel.domain import fold
from dhr_panel.model import InvalidCommand, PanelNotOpen


def test_the_first_terms_of_reference_are_version_one() -> None:
    assert when(issue_terms(), given=an_open_panel()) == [TermsOfReferenceIssued(
        review_id=REVIEW_ID, version=1, issued_on=date(2025, 4, 20),
        period_from=date(2020, 1, 1), period_to=date(2025, 3, 1),
        lines_of_enquiry=("What did each agency know of the abuse?",), family_consulted=True)]


def test_each_new_issue_is_the_next_version_and_becomes_current() -> None:
    history = then(an_open_panel(), issue_terms(), issue_terms(family_consulted=False,
                                                               issued_on=date(2025, 5, 1)))

    state = fold(history)

    assert [t.version for t in state.terms_of_reference] == [1, 2]
    current = state.current_terms_of_reference
    assert current is not None and current.version == 2 and not current.family_consulted


def test_a_period_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(issue_terms(period_from=date(2025, 1, 2), period_to=date(2025, 1, 1)),
             given=an_open_panel())
    assert refused.value.field == "period_to"


def test_a_one_day_period_is_accepted() -> None:
    events = when(issue_terms(period_from=date(2025, 1, 1), period_to=date(2025, 1, 1)),
                  given=an_open_panel())
    assert len(events) == 1


def test_a_blank_line_of_enquiry_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(issue_terms(lines_of_enquiry=["Valid", " "]), given=an_open_panel())
    assert refused.value.field == "lines_of_enquiry"


def test_no_lines_of_enquiry_is_refused_when_the_command_is_built() -> None:
    with pytest.raises(ValueError, match="lines_of_enquiry"):
        issue_terms(lines_of_enquiry=[])


def test_a_version_issued_before_the_current_one_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(issue_terms(issued_on=date(2025, 4, 19)), given=then(an_open_panel(), issue_terms()))
    assert refused.value.field == "issued_on"


def test_terms_of_reference_need_an_open_panel() -> None:
    with pytest.raises(PanelNotOpen):
        when(issue_terms(), given=[])
