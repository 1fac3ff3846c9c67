"""The independent Chair: appointed only to a commissioned review, only when independent."""

from datetime import date

import pytest
from commissioning_givens import (
    REVIEW_ID,
    a_commissioned_review,
    a_notified_review,
    a_review_not_commissioned,
    appoint_chair,
    independent_declaration,
    then,
    when,
)

from dhr_commissioning.domain import (
    ChairNotIndependent,
    InvalidCommand,
    PauseReview,
    ReviewNotCommissioned,
    fold,
)
from dhr_contracts.commissioning import ChairAppointed, PauseReason


def test_an_independent_chair_is_appointed_to_a_commissioned_review() -> None:
    assert when(appoint_chair(), given=a_commissioned_review()) == [ChairAppointed(
        review_id=REVIEW_ID,
        appointed_on=date(2025, 4, 1),
        chair_name="Alex Chair",
        declaration=independent_declaration(),
        replaces_previous_chair=False,
        replacement_reason=None,
    )]


def test_other_interests_are_declared_for_the_record_without_blocking_the_appointment() -> None:
    declaration = independent_declaration(other_interests="Trustee of a national charity.")

    event = when(appoint_chair(declaration=declaration), given=a_commissioned_review())[0]

    assert isinstance(event, ChairAppointed)
    assert event.declaration.other_interests == "Trustee of a national charity."


def test_a_chair_who_line_manages_staff_of_an_involved_agency_is_refused() -> None:
    declaration = independent_declaration(line_management_of_involved_agency=True)

    with pytest.raises(ChairNotIndependent) as refused:
        when(appoint_chair(declaration=declaration), given=a_commissioned_review())

    assert refused.value.field == "declaration.line_management_of_involved_agency"
    assert "not independent" in refused.value.message
    assert "line-manages" in refused.value.message


def test_a_chair_who_delivers_services_for_an_involved_agency_is_refused() -> None:
    declaration = independent_declaration(service_delivery_for_involved_agency=True)

    with pytest.raises(ChairNotIndependent) as refused:
        when(appoint_chair(declaration=declaration), given=a_commissioned_review())

    assert refused.value.field == "declaration.service_delivery_for_involved_agency"


def test_a_chair_with_both_links_is_told_of_both() -> None:
    declaration = independent_declaration(line_management_of_involved_agency=True,
                                          service_delivery_for_involved_agency=True)

    with pytest.raises(ChairNotIndependent) as refused:
        when(appoint_chair(declaration=declaration), given=a_commissioned_review())

    assert "line-manages" in refused.value.message
    assert "delivers services" in refused.value.message


def test_a_chair_cannot_be_appointed_before_a_decision_to_commission() -> None:
    with pytest.raises(ReviewNotCommissioned):
        when(appoint_chair(), given=a_notified_review())


def test_a_chair_cannot_be_appointed_to_a_review_not_commissioned() -> None:
    with pytest.raises(ReviewNotCommissioned) as refused:
        when(appoint_chair(), given=a_review_not_commissioned())

    assert "decided not to commission" in refused.value.message


def test_a_chair_cannot_be_appointed_before_the_decision_date() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(appoint_chair(appointed_on=date(2025, 3, 19)), given=a_commissioned_review())

    assert refused.value.field == "appointed_on"


def test_a_chair_is_replaced_with_a_reason() -> None:
    given = then(a_commissioned_review(), appoint_chair())
    command = appoint_chair(appointed_on=date(2025, 5, 1), chair_name="Sam Chair",
                            replacement_reason="The first Chair withdrew through illness.")

    event = when(command, given=given)[0]

    assert isinstance(event, ChairAppointed)
    assert event.replaces_previous_chair is True
    assert event.replacement_reason == "The first Chair withdrew through illness."
    chair = fold([*given, event]).chair
    assert chair is not None
    assert (chair.name, chair.appointed_on) == ("Sam Chair", date(2025, 5, 1))


@pytest.mark.parametrize("reason", [None, "  "])
def test_replacing_a_chair_without_a_reason_is_refused(reason: str | None) -> None:
    given = then(a_commissioned_review(), appoint_chair())

    with pytest.raises(InvalidCommand) as refused:
        when(appoint_chair(chair_name="Sam Chair", replacement_reason=reason), given=given)

    assert refused.value.field == "replacement_reason"


def test_a_replacement_reason_without_a_chair_in_post_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(appoint_chair(replacement_reason="Withdrew."), given=a_commissioned_review())

    assert refused.value.field == "replacement_reason"


def test_a_replacement_cannot_predate_the_chair_it_replaces() -> None:
    given = then(a_commissioned_review(), appoint_chair())
    command = appoint_chair(appointed_on=date(2025, 3, 25), replacement_reason="Withdrew.")

    with pytest.raises(InvalidCommand) as refused:
        when(command, given=given)

    assert refused.value.field == "appointed_on"


def test_a_chair_may_be_appointed_while_the_review_is_paused() -> None:
    pause = PauseReview(review_id=REVIEW_ID, paused_on=date(2025, 3, 25),
                        reason=PauseReason.INQUEST)
    given = then(a_commissioned_review(), pause)

    assert len(when(appoint_chair(), given=given)) == 1


def test_the_chairs_name_is_personal_data_and_their_user_id_is_kept_in_clear_for_access() -> None:
    # The user id is an opaque id that access checks compare with tokens: sealed, it could not be.
    assert ChairAppointed.personal_fields() == {"chair_name"}


def test_the_chairs_user_id_is_recorded_so_that_their_token_opens_the_review() -> None:
    events = when(appoint_chair(chair_subject="chair-alex"), given=a_commissioned_review())

    assert isinstance(events[0], ChairAppointed) and events[0].chair_subject == "chair-alex"
    chair = fold([*a_commissioned_review(), *events]).chair
    assert chair is not None and chair.subject == "chair-alex"
