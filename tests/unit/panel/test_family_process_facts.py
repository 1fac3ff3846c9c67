"""The five process facts of the Home Office library, derived from the events at any time; and
the family-wide records behind them (terms of reference, draft report, panel, support, consent)."""

from datetime import date

import pytest
from family_givens import (
    MOTHER,
    REVIEW_ID,
    a_family,
    a_family_that_agreed,
    accept_advocacy,
    attend_panel,
    consult_on_terms,
    contribution,
    decline_advocacy,
    offer_advocacy,
    offer_support,
    record_consent,
    share_draft,
    then,
    when,
)

from dhr_contracts.base import EventPayload
from dhr_contracts.family import (
    ApproachChannel,
    DraftReportSharedWithFamily,
    FamilyAttendedPanelMeeting,
    FamilyConsentRecorded,
    FamilyConsultedOnTermsOfReference,
    FamilySupportAfterCompletionOffered,
)
from dhr_panel.family import (
    Command,
    FamilyRecordNotFound,
    InvalidFamilyCommand,
    fold,
    process_facts,
)

NONE_YET = {"family_contributed": False, "consulted_on_terms_of_reference": False,
            "supported_by_expert_advocate": False, "received_draft_report": False,
            "attended_panel": False}


def facts(history: list[EventPayload]) -> dict[str, bool]:
    return process_facts(fold(history))


def test_no_fact_holds_for_a_family_just_recorded_or_for_no_family() -> None:
    assert facts([]) == NONE_YET
    assert facts(a_family()) == NONE_YET


@pytest.mark.parametrize(("fact", "commands"), [
    ("family_contributed", [contribution()]),
    ("consulted_on_terms_of_reference", [consult_on_terms()]),
    ("supported_by_expert_advocate", [offer_advocacy(), accept_advocacy()]),
    ("received_draft_report", [share_draft()]),
    ("attended_panel", [attend_panel()]),
])
def test_each_fact_holds_as_soon_as_its_event_is_recorded(fact: str, commands: list[Command]) -> None:
    history = then(a_family_that_agreed(), *commands)

    assert facts(history) == {**NONE_YET, fact: True}


def test_the_facts_are_derived_at_any_point_of_the_history() -> None:
    history = then(a_family_that_agreed(), consult_on_terms(), offer_advocacy(),
                   accept_advocacy(), contribution(), attend_panel(), share_draft())

    seen = [facts(history[:length]) for length in range(len(history) + 1)]
    assert [sum(f.values()) for f in seen] == [0, 0, 0, 1, 1, 2, 3, 4, 5]
    assert seen[-1] == dict.fromkeys(NONE_YET, True)


def test_advocacy_offered_or_declined_is_not_support_by_an_advocate() -> None:
    assert facts(then(a_family(), offer_advocacy()))["supported_by_expert_advocate"] is False
    declined = then(a_family(), offer_advocacy(), decline_advocacy())
    assert facts(declined)["supported_by_expert_advocate"] is False


def test_family_wide_records_carry_their_dates_versions_and_references() -> None:
    given = a_family()
    assert when(consult_on_terms(version=2), given) == [FamilyConsultedOnTermsOfReference(
        review_id=REVIEW_ID, consulted_on=date(2026, 4, 20), terms_of_reference_version=2)]
    assert when(share_draft(version=3), given) == [DraftReportSharedWithFamily(
        review_id=REVIEW_ID, shared_on=date(2026, 11, 2), report_version=3)]
    assert when(attend_panel(reference=" PM-3 "), given) == [FamilyAttendedPanelMeeting(
        review_id=REVIEW_ID, attended_on=date(2026, 9, 14), meeting_reference="PM-3")]
    assert when(offer_support(by="Victim Support"), given) == [FamilySupportAfterCompletionOffered(
        review_id=REVIEW_ID, offered_on=date(2026, 11, 20), offered_by="Victim Support")]


@pytest.mark.parametrize("command", [consult_on_terms(), share_draft(), attend_panel(),
                                     offer_support()])
def test_family_wide_records_need_a_family_record(command: Command) -> None:
    with pytest.raises(FamilyRecordNotFound) as refused:
        when(command, given=[])

    assert refused.value.field == "review_id"


def test_a_blank_meeting_reference_or_supporter_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidFamilyCommand) as refused:
        when(attend_panel(reference="  "), given=a_family())
    assert refused.value.field == "meeting_reference"
    with pytest.raises(InvalidFamilyCommand) as refused:
        when(offer_support(by=""), given=a_family())
    assert refused.value.field == "offered_by"


def test_consent_and_preferences_are_recorded_and_the_latest_replaces_the_earlier() -> None:
    first = record_consent(preferred_channel="via_advocate", victim_pseudonym="Anna",
                           tribute="She loved the sea.")
    assert when(first, a_family()) == [FamilyConsentRecorded(
        review_id=REVIEW_ID, person_id=MOTHER, recorded_on=date(2026, 7, 1),
        consents_to_involvement=True, preferred_channel=ApproachChannel.VIA_ADVOCATE,
        victim_pseudonym="Anna", tribute="She loved the sea.")]

    changed_mind = record_consent(recorded_on=date(2026, 8, 1), consents_to_involvement=False)
    [consent] = fold(then(a_family(), first, changed_mind)).consents
    assert consent.consents_to_involvement is False
    assert consent.recorded_on == date(2026, 8, 1)


def test_the_pseudonym_and_tribute_are_personal_data() -> None:
    assert FamilyConsentRecorded.personal_fields() == {"victim_pseudonym", "tribute"}
