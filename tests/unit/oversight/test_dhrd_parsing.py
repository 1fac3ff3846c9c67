"""Reading a DHRD directory: the published deviations accepted, unknowns kept unknown, and every
row that cannot be imported reported with its line number."""

from pathlib import Path

import pytest

from dhr_oversight.dhrd import (
    DhrdFormatError,
    HistoricReview,
    ImportPlan,
    RejectedRow,
    main_import,
    parse_dhrd,
)

MINI = Path(__file__).resolve().parents[2] / "fixtures" / "dhrd-mini"
HEADER = ("incident_id,csp,region,death_date,multiple_victims,cause_of_death,location_of_death,"
          "intimate_partner_violence,familial_homicide,parricide,homicide_suicide,children_present,"
          "coercive_control,economic_abuse,faith_based_marriage,forced_marriage,"
          "honour_based_violence,physical_abuse,emotional_abuse,separation,sexual_abuse,stalking")
FALSES = ",".join(["False"] * 15)


@pytest.fixture(scope="module")
def plan() -> ImportPlan:
    return parse_dhrd(MINI)


def review(plan: ImportPlan, reference: str) -> HistoricReview:
    [found] = [r for r in plan.reviews if r.source_reference == reference]
    return found


def write(directory: Path, incidents: list[str], victims: list[str] | None = None,
          perpetrators: list[str] | None = None) -> Path:
    (directory / "incidents.csv").write_text("\n".join([HEADER, *incidents]) + "\n")
    (directory / "victims.csv").write_text(
        "\n".join(["victim_id,incident_id,age_at_death,sex_of_victim,relationship_to_perpetrator",
                   *(victims or [])]) + "\n")
    (directory / "perpetrators.csv").write_text(
        "\n".join(["perpetrator_id,incident_id,age_at_fatal_incident,sex_of_perpetrator,"
                   "court_verdict", *(perpetrators or [])]) + "\n")
    return directory


def test_one_review_is_planned_per_incident_in_file_order(plan: ImportPlan) -> None:
    assert [r.source_reference for r in plan.reviews] == [
        "MINI-0001", "MINI-0002", "MINI-0003", "MINI-0004", "MINI-0005", "MINI-0007"]
    assert [r.line for r in plan.reviews] == [2, 3, 4, 5, 9, 10]
    assert plan.rows_read == {"incidents.csv": 9, "victims.csv": 8, "perpetrators.csv": 6}


def test_a_published_row_is_read_as_the_codebook_means_it(plan: ImportPlan) -> None:
    body = review(plan, "MINI-0001").body

    assert body["source"] == "dhrd"
    assert (body["csp"], body["region"]) == ("Lincoln", "East Midlands")
    assert (body["death_year"], body["death_month"]) == (2018, 9)
    assert body["multiple_victims"] is False
    assert body["cause_of_death"] == "sharp instrument"
    assert body["location_of_death"] == "residential_location"
    assert body["characteristics"]["intimate_partner_violence"] is True
    assert body["characteristics"]["coercive_control"] is True
    assert body["characteristics"]["stalking"] is False
    assert set(body["characteristics"]) == {
        "intimate_partner_violence", "familial_homicide", "parricide", "homicide_suicide",
        "children_present", "coercive_control", "economic_abuse", "physical_abuse",
        "emotional_abuse", "sexual_abuse", "separation", "stalking", "forced_marriage",
        "honour_based_violence", "faith_based_marriage"}
    assert body["victims"] == [{"source_reference": "VIC-M001", "age_band": "25-34",
                                "age_band_as_recorded": None, "sex": "female",
                                "relationship_to_perpetrator": "Spouse (incl civil partner)"}]


@pytest.mark.parametrize(("reference", "year", "month"), [
    ("MINI-0001", 2018, 9),     # September 2018, as published
    ("MINI-0002", 2020, 3),     # 03-2020, the codebook's MM-YYYY
    ("MINI-0003", 2019, None),  # 2019, a year only
    ("MINI-0004", None, None),  # Smarch 2020, malformed
    ("MINI-0005", 2021, 7),     # 2021-07
    ("MINI-0007", 2017, 9),     # Sep 2017
])
def test_every_spelling_of_the_date_of_death_is_read(plan: ImportPlan, reference: str,
                                                      year: int | None, month: int | None) -> None:
    body = review(plan, reference).body

    assert (body["death_year"], body["death_month"]) == (year, month)


def test_booleans_in_either_case_are_read_and_empty_ones_are_unknown(plan: ImportPlan) -> None:
    codebook = review(plan, "MINI-0002").body
    empty = review(plan, "MINI-0004").body

    assert codebook["multiple_victims"] is False
    assert codebook["characteristics"]["intimate_partner_violence"] is True
    assert codebook["characteristics"]["homicide_suicide"] is True
    assert empty["characteristics"]["intimate_partner_violence"] is None
    assert empty["characteristics"]["familial_homicide"] is None


def test_empty_and_unknown_cells_are_imported_as_unknown(plan: ImportPlan) -> None:
    assert review(plan, "MINI-0002").body["region"] is None
    assert review(plan, "MINI-0002").body["cause_of_death"] is None  # "unknown"
    assert review(plan, "MINI-0003").body["cause_of_death"] is None  # empty
    assert review(plan, "MINI-0004").body["location_of_death"] is None  # not_known
    assert review(plan, "MINI-0004").body["victims"] == [{
        "source_reference": "VIC-M004", "age_band": None, "age_band_as_recorded": None,
        "sex": None, "relationship_to_perpetrator": None}]


def test_malformed_values_are_imported_as_unknown_and_listed_with_line_and_column(
        plan: ImportPlan) -> None:
    assert review(plan, "MINI-0003").body["characteristics"]["intimate_partner_violence"] is None
    assert [(u.file, u.line, u.column, u.value) for u in plan.unknowns] == [
        ("incidents.csv", 4, "intimate_partner_violence", "Yes"),
        ("incidents.csv", 5, "death_date", "Smarch 2020"),
    ]


def test_bands_and_verdicts_outside_the_codebook_are_kept_as_recorded(plan: ImportPlan) -> None:
    [perpetrator] = review(plan, "MINI-0001").body["perpetrators"]
    [victim] = review(plan, "MINI-0005").body["victims"]

    assert perpetrator["age_band"] is None
    assert perpetrator["age_band_as_recorded"] == "20-34"
    assert perpetrator["court_verdict"] == "Unfit to plead"
    assert (victim["age_band"], victim["age_band_as_recorded"]) == (None, "70-74")


def test_a_quoted_csp_with_a_comma_is_one_value(plan: ImportPlan) -> None:
    assert review(plan, "MINI-0005").body["csp"] == "Bournemouth, Christchurch and Poole"


def test_an_incident_keeps_all_its_perpetrators(plan: ImportPlan) -> None:
    perpetrators = review(plan, "MINI-0003").body["perpetrators"]

    assert [p["source_reference"] for p in perpetrators] == ["SUS-M003", "SUS-M03B"]
    assert perpetrators[0]["age_band"] is None
    assert perpetrators[0]["court_verdict"] is None


def test_rows_that_cannot_be_imported_are_rejected_with_their_line_numbers(plan: ImportPlan) -> None:
    assert [(r.file, r.line) for r in plan.rejected] == [
        ("incidents.csv", 6), ("incidents.csv", 7), ("incidents.csv", 8),
        ("victims.csv", 6), ("victims.csv", 7), ("victims.csv", 8),
        ("perpetrators.csv", 6), ("perpetrators.csv", 7),
    ]
    reasons = [r.reason for r in plan.rejected]
    assert "duplicate incident_id MINI-0002 (first on line 3)" in reasons[0]
    assert "5 columns where the header has 22" in reasons[1]
    assert "no incident_id" in reasons[2]
    assert "MINI-9999 is not in incidents.csv" in reasons[3]
    assert "duplicate victim_id VIC-M001" in reasons[4]
    assert "3 columns where the header has 6" in reasons[5]
    assert "MINI-0404 is not in incidents.csv" in reasons[6]
    assert "no perpetrator_id" in reasons[7]


def test_no_row_is_dropped_silently(plan: ImportPlan) -> None:
    rejected = {name: sum(1 for r in plan.rejected if r.file == name) for name in plan.rows_read}

    assert plan.rows_read["incidents.csv"] == len(plan.reviews) + rejected["incidents.csv"]
    assert plan.rows_read["victims.csv"] == plan.victims + rejected["victims.csv"]
    assert plan.rows_read["perpetrators.csv"] == plan.perpetrators + rejected["perpetrators.csv"]


def test_a_record_spanning_lines_is_reported_at_the_line_it_starts(tmp_path: Path) -> None:
    directory = write(tmp_path, [
        f'INC-1,"Multi\nline CSP",East,2020,False,arson,other,{FALSES}',
        "INC-1,Norfolk,East,2020,False",
    ])

    plan = parse_dhrd(directory)

    assert plan.reviews[0].body["csp"] == "Multi\nline CSP"
    assert plan.rejected == [RejectedRow("incidents.csv", 4, "5 columns where the header has 22")]


def test_a_missing_file_or_id_column_stops_the_import_before_anything_is_posted(
        tmp_path: Path) -> None:
    with pytest.raises(DhrdFormatError, match=r"incidents\.csv is missing"):
        parse_dhrd(tmp_path)
    write(tmp_path, [])
    (tmp_path / "victims.csv").write_text("id,incident_id\n")
    with pytest.raises(DhrdFormatError, match=r"victims\.csv line 1: the header has no victim_id"):
        parse_dhrd(tmp_path)


def test_a_missing_optional_column_makes_its_values_unknown_and_is_reported(tmp_path: Path) -> None:
    write(tmp_path, [])
    (tmp_path / "incidents.csv").write_text("incident_id,csp\nINC-1,Norfolk\n")

    plan = parse_dhrd(tmp_path)

    assert plan.reviews[0].body["csp"] == "Norfolk"
    assert plan.reviews[0].body["characteristics"]["stalking"] is None
    assert ("incidents.csv", 1, "stalking") in {(u.file, u.line, u.column) for u in plan.unknowns}


def test_a_dry_run_prints_the_report_with_line_numbers_and_exits_1_on_rejections(
        capsys: pytest.CaptureFixture[str]) -> None:
    status = main_import([str(MINI), "--dry-run"])

    out = capsys.readouterr().out
    assert status == 1
    assert "6 reviews with 5 victims and 4 perpetrators" in out
    assert "incidents.csv line 6: duplicate incident_id MINI-0002" in out
    assert "incidents.csv line 5, death_date = 'Smarch 2020'" in out


def test_the_command_reports_an_unreadable_directory_and_exits_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main_import([str(tmp_path)]) == 2
    assert "incidents.csv is missing" in capsys.readouterr().err
