"""evolve and fold: the state a query reads, rebuilt from the events alone."""

from datetime import date

import pytest
from commissioning_givens import (
    CSP_LEARNED_ON,
    DECIDED_ON,
    RECEIVED_AT,
    REVIEW_ID,
    a_notified_review,
    a_review_not_commissioned,
    appoint_chair,
    decide_to_commission,
    then,
)

from dhr_commissioning.domain import (
    Chair,
    Command,
    FamilyContact,
    LinkParallelReview,
    PauseReview,
    RecordFamilyInformed,
    RecordHomeOfficeNotified,
    ReviewState,
    ReviewStatus,
    decide,
    evolve,
    fold,
    initial_state,
)
from dhr_contracts.base import EventPayload
from dhr_contracts.commissioning import (
    EVENTS,
    DecisionOutcome,
    EligibilityOutcome,
    FamilyContactChannel,
    GreyAreaFlag,
    ParallelReviewKind,
    PauseReason,
)
from dhr_contracts.registry import parse_payload


def test_a_review_that_does_not_exist_has_an_empty_state() -> None:
    state = initial_state()

    assert state.exists is False
    assert state.status is None
    assert state.completion_due_on is None


def test_a_notified_review_awaits_a_decision() -> None:
    state = fold(a_notified_review(prior_agency_contact="no"))

    assert state.exists is True
    assert state.review_id == REVIEW_ID
    assert state.status is ReviewStatus.AWAITING_DECISION
    assert state.csp_area == "Northtown"
    assert state.notifying_agency == "Northshire Police"
    assert state.date_of_death == date(2025, 3, 1)
    assert state.csp_learned_on == CSP_LEARNED_ON
    assert state.received_at == RECEIVED_AT
    assert state.decision_due_on == date(2025, 4, 3)
    assert state.eligibility_outcome is EligibilityOutcome.NEEDS_HUMAN_DECISION
    assert state.grey_area_flags == (GreyAreaFlag.NO_PRIOR_AGENCY_CONTACT,)
    assert state.eligibility_reasons
    assert state.completion_due_on is None


def test_a_review_taken_through_its_lifecycle_shows_everything_a_query_needs() -> None:
    history = then(
        a_notified_review(),
        LinkParallelReview(review_id=REVIEW_ID, linked_on=date(2025, 3, 12),
                           kind=ParallelReviewKind.INQUEST, reference="INQ-1"),
        decide_to_commission(),
        RecordHomeOfficeNotified(review_id=REVIEW_ID, notified_on=date(2025, 3, 21)),
        RecordFamilyInformed(review_id=REVIEW_ID, informed_on=date(2025, 3, 22),
                             channel=FamilyContactChannel.TELEPHONE),
        appoint_chair(),
        PauseReview(review_id=REVIEW_ID, paused_on=date(2025, 4, 2),
                    reason=PauseReason.CRIMINAL_PROCEEDINGS),
    )

    state = fold(history)

    assert state.status is ReviewStatus.PAUSED
    assert state.decision is DecisionOutcome.COMMISSIONED
    assert state.decided_on == DECIDED_ON
    assert state.decision_rationale == "Statutory criteria met; agencies were involved."
    assert state.overrides_eligibility_assessment is False
    assert state.completion_due_months == 6
    assert state.completion_due_on == date(2025, 9, 20)
    assert state.paused_since == date(2025, 4, 2)
    assert state.pause_reason is PauseReason.CRIMINAL_PROCEEDINGS
    assert state.total_paused_days == 0
    assert state.chair == Chair(name="Alex Chair", appointed_on=date(2025, 4, 1))
    assert state.home_office_notified_on == date(2025, 3, 21)
    assert state.family_informed == (
        FamilyContact(informed_on=date(2025, 3, 22), channel=FamilyContactChannel.TELEPHONE),)
    assert [(link.kind, link.reference) for link in state.parallel_reviews] == [
        (ParallelReviewKind.INQUEST, "INQ-1")]


def test_a_review_not_commissioned_keeps_its_reasons_and_no_completion_date() -> None:
    state = fold(a_review_not_commissioned())

    assert state.status is ReviewStatus.NOT_COMMISSIONED
    assert state.decision is DecisionOutcome.NOT_COMMISSIONED
    assert state.not_commissioned_reasons == ("relationship_outside_statutory_test",)
    assert state.completion_due_on is None


def test_fold_is_evolve_applied_in_order_and_leaves_earlier_states_untouched() -> None:
    history = a_notified_review()
    first = evolve(initial_state(), history[0])

    assert evolve(first, history[1]) == fold(history)
    assert first.eligibility_outcome is None


def test_the_state_is_rebuilt_identically_from_the_published_json() -> None:
    history = then(a_notified_review(), decide_to_commission(), appoint_chair())
    replayed = [parse_payload(event.event_type, event.model_dump(mode="json"))
                for event in history]

    assert fold(replayed) == fold(history)


def test_every_event_is_registered_with_a_versioned_commissioning_type() -> None:
    # 16 events of review cases, HistoricReviewRecorded and PersonalDataErased
    assert len({model.event_type for model in EVENTS}) == len(EVENTS) == 18
    for model in EVENTS:
        assert model.event_type.startswith("dhr.commissioning.")
        assert model.event_type.endswith(".v1")
        assert "review_id" in model.model_fields
        assert all(field.description for field in model.model_fields.values())


def test_an_event_from_another_context_is_not_evolved() -> None:
    class Stranger(EventPayload):
        pass

    with pytest.raises(TypeError):
        evolve(initial_state(), Stranger())


def test_a_command_from_another_context_is_not_decided() -> None:
    class Stranger(Command):
        pass

    with pytest.raises(TypeError):
        decide(Stranger(review_id=REVIEW_ID), initial_state())


def test_the_state_survives_a_round_trip_through_json() -> None:
    history = then(
        a_notified_review(),
        decide_to_commission(),
        RecordFamilyInformed(review_id=REVIEW_ID, informed_on=date(2025, 3, 22),
                             channel=FamilyContactChannel.LETTER),
        appoint_chair(),
        LinkParallelReview(review_id=REVIEW_ID, linked_on=date(2025, 3, 25),
                           kind=ParallelReviewKind.IOPC_INVESTIGATION, reference="IOPC-7"),
    )
    state = fold(history)

    assert ReviewState.model_validate(state.model_dump(mode="json")) == state
