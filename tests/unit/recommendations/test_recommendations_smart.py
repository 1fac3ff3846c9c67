"""The SMART check at agreement: vague recommendations are flagged with reasons and a score,
recorded not refused; structurally missing data is refused."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError
from recommendations_givens import SMART_TEXT, record, when

from dhr_contracts.panel import RecommendationLevel
from dhr_contracts.recommendations import (
    AddresseeType,
    RecommendationRecorded,
    RecommendationTheme,
    SmartFlag,
)
from dhr_recommendations.model import InvalidCommand
from dhr_recommendations.smart import assess, infer_addressee_type, infer_themes


def flags(text: str, names: list[str], measure: str | None = None,
          target: date | None = None) -> tuple[set[SmartFlag], int]:
    result = assess(text, names, measure_of_success=measure, target_date=target)
    return {f.flag for f in result.findings}, result.score


def test_a_smart_recommendation_scores_100_with_no_flags() -> None:
    assert flags(SMART_TEXT, ["Norfolk Constabulary"], target=date(2027, 3, 31)) == (set(), 100)


def test_improve_information_sharing_with_no_owner_measure_or_date_is_flagged_on_every_count() -> None:
    found, score = flags("Agencies should improve information sharing.", ["All agencies"])
    assert found == {SmartFlag.NO_NAMED_ADDRESSEE, SmartFlag.NO_CONCRETE_ACTION,
                     SmartFlag.NO_MEASURE_OF_SUCCESS, SmartFlag.NO_TARGET_DATE,
                     SmartFlag.VAGUE_WORDING}
    assert score == 0


def test_vague_wording_costs_points_even_with_an_owner_and_a_date() -> None:
    found, score = flags("Norfolk Constabulary should consider how to raise awareness of stalking.",
                         ["Norfolk Constabulary"], target=date(2027, 1, 1))
    assert found == {SmartFlag.NO_CONCRETE_ACTION, SmartFlag.NO_MEASURE_OF_SUCCESS,
                     SmartFlag.VAGUE_WORDING}
    assert score == 2 * 25 - 15


def test_a_stated_measure_of_success_counts_even_when_the_wording_has_none() -> None:
    found, score = flags("The Trust will introduce routine enquiry in maternity clinics.",
                         ["Norfolk and Norwich University Hospitals NHS Foundation Trust"],
                         measure="Quarterly audit shows routine enquiry in 90% of bookings.",
                         target=date(2027, 6, 30))
    assert (found, score) == (set(), 100)


def test_every_flag_has_a_reason() -> None:
    result = assess("Consider joint working.", ["Partners"], measure_of_success=None,
                    target_date=None)
    assert all(len(f.reason) > 20 for f in result.findings)


def test_a_vague_recommendation_is_recorded_with_its_flags_not_refused() -> None:
    (event,) = when(record(text="Improve information sharing between agencies.",
                           addressees=[{"name": "All agencies"}]), [])
    assert isinstance(event, RecommendationRecorded)
    assert event.smart.score == 0
    assert SmartFlag.VAGUE_WORDING in {f.flag for f in event.smart.findings}


def test_the_target_date_in_the_wording_counts_and_is_given_to_every_addressee() -> None:
    (event,) = when(record(text="Norfolk Constabulary and the Probation Service to publish a joint "
                           "protocol within six months, evidenced by its adoption by both boards.",
                           addressees=[{"name": "Norfolk Constabulary"},
                                       {"name": "Probation Service"}]), [])
    assert isinstance(event, RecommendationRecorded)
    assert [a.target_date for a in event.addressees] == [date(2026, 9, 2)] * 2
    assert event.smart.score == 100


def test_an_addressee_without_a_target_date_leaves_the_recommendation_undated() -> None:
    (event,) = when(record(text="Norfolk Constabulary to publish a protocol, evidenced by an audit.",
                           addressees=[{"name": "Norfolk Constabulary",
                                        "target_date": "2026-12-31"},
                                       {"name": "Probation Service"}]), [])
    assert isinstance(event, RecommendationRecorded)
    assert SmartFlag.NO_TARGET_DATE in {f.flag for f in event.smart.findings}


@pytest.mark.parametrize(("changes", "field"), [
    ({"text": ""}, "text"),
    ({"addressees": []}, "addressees"),
    ({"level": "parish"}, "level"),
    ({"tags": ["Not Lower Case"]}, "tags"),
])
def test_structurally_missing_or_malformed_data_is_refused(changes: dict, field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        record(**changes)
    assert refused.value.errors()[0]["loc"][0] == field


def test_a_blank_text_or_a_duplicate_addressee_is_refused_by_the_decider() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(record(text="   "), [])
    assert refused.value.field == "text"
    with pytest.raises(InvalidCommand) as refused:
        when(record(addressees=[{"name": "Norfolk Constabulary"},
                                {"name": "norfolk constabulary"}]), [])
    assert refused.value.field == "addressees"


def test_addressees_whose_ids_would_be_alike_get_distinct_ids() -> None:
    [recorded] = when(record(addressees=[{"name": "Police"}, {"name": "Police."},
                                         {"name": "Police 2"}]), [])
    assert isinstance(recorded, RecommendationRecorded)
    assert [a.addressee_id for a in recorded.addressees] == ["police", "police-2", "police-2-2"]


def test_a_target_date_before_the_issue_date_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(record(target_date=date(2026, 1, 1)), [])
    assert refused.value.field == "target_date"


@pytest.mark.parametrize(("name", "level", "expected"), [
    ("Norfolk Constabulary", "local", AddresseeType.POLICE),
    ("Norfolk and Suffolk NHS Foundation Trust", "local", AddresseeType.HEALTH_SERVICES),
    ("Probation Service East of England", "regional", AddresseeType.PROBATION),
    ("Leeway Domestic Abuse Service", "local", AddresseeType.IDVA_OR_DOMESTIC_ABUSE_SERVICE),
    ("Norfolk County Council Children's Services", "local", AddresseeType.SOCIAL_SERVICES),
    ("Broadland Housing Association", "local", AddresseeType.HOUSING),
    ("Safer Norfolk Partnership", "local", AddresseeType.COMMUNITY_SAFETY_PARTNERSHIP),
    ("Home Office", "national", AddresseeType.GOVERNMENT_DEPARTMENT),
    ("Department for Education", "national", AddresseeType.GOVERNMENT_DEPARTMENT),
    ("Acme Widgets", "national", AddresseeType.GOVERNMENT_DEPARTMENT),
    ("Acme Widgets", "local", AddresseeType.COMMUNITY_SAFETY_PARTNERSHIP),
])
def test_the_addressee_type_is_inferred_from_the_name(name: str, level: str,
                                                      expected: AddresseeType) -> None:
    assert infer_addressee_type(name, RecommendationLevel(level)) is expected


def test_a_given_addressee_type_is_kept_and_an_inferred_one_is_marked() -> None:
    (event,) = when(record(addressees=[{"name": "Acme Widgets", "addressee_type": "employer"},
                                       {"name": "Norfolk Constabulary"}]), [])
    assert isinstance(event, RecommendationRecorded)
    assert [(a.addressee_type, a.addressee_type_inferred) for a in event.addressees] == [
        (AddresseeType.EMPLOYER, False), (AddresseeType.POLICE, True)]


def test_themes_are_inferred_from_the_wording_when_none_are_given() -> None:
    assert infer_themes("Deliver DASH risk assessment training") == (
        RecommendationTheme.IDENTIFICATION_OF_RISK, RecommendationTheme.TRAINING)
    assert infer_themes("Something else entirely") == (RecommendationTheme.OTHER,)
    (event,) = when(record(themes=["policy"]), [])
    assert isinstance(event, RecommendationRecorded)
    assert event.themes == (RecommendationTheme.POLICY,) and not event.themes_inferred


def test_the_response_is_due_56_days_after_issue_unless_the_type_has_its_own_period() -> None:
    (event,) = when(record(addressees=[{"name": "Norfolk Constabulary"}, {"name": "Home Office"}],
                           response_due_days={"government_department": 90}), [])
    assert isinstance(event, RecommendationRecorded)
    assert [a.response_due_on for a in event.addressees] == [date(2026, 4, 27), date(2026, 5, 31)]
