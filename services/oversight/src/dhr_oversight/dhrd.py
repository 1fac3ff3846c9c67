"""Historic backfill: the Domestic Homicide Review Dataset (DHRD) imported as historic reviews
through the commissioning service's normal intake (`POST /historic-reviews`), so every record
becomes an event on the commissioning topic and in the ledger like any other.

`parse_dhrd` reads `incidents.csv`, `victims.csv` and `perpetrators.csv` (the DHRD codebook's
files; `documents.csv` is not needed) into one review per incident with its victims and
perpetrators. Nothing is dropped silently: a value that is empty or cannot be read is imported as
unknown (null), and a malformed value is listed with its line and column; a row that cannot be
imported at all (wrong number of columns, no id, a duplicate id, a victim or perpetrator of an
incident that is not in incidents.csv) is rejected with its line number and the reason.

Accepted deviations from the codebook, as found in the published files: booleans written
True/False/TRUE/FALSE (any case) or empty; the date of death written `September 2018`, `Sep 2018`,
`2018`, `09-2018` (the codebook's MM-YYYY), `2018-09` or `2018-09-14`; age bands and court
verdicts outside the codebook's lists kept as recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from dhr_contracts.commissioning import CaseCharacteristics

SOURCE = "dhrd"
INCIDENTS = "incidents.csv"
VICTIMS = "victims.csv"
PERPETRATORS = "perpetrators.csv"
DEFAULT_COMMISSIONING_URL = "http://127.0.0.1:8001"
_FILE_ORDER = {INCIDENTS: 0, VICTIMS: 1, PERPETRATORS: 2}

CODEBOOK_AGE_BANDS = ("16-19", "20-24", "25-34", "35-44", "45-54", "55-64", "65+")
CHARACTERISTICS = tuple(CaseCharacteristics.model_fields)
"""The case characteristics, named as the DHRD columns name them."""

# Values the source uses to say "not known"; imported as null like an empty cell.
_UNKNOWN_MARKERS = frozenset({"unknown", "not known", "not_known", "n/a", "na", "missing"})
_SEXES = frozenset({"female", "male", "other"})
_TEXT_LIMIT = 200  # the contract's ShortText

_MONTHS = {name: number for number, name in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"], start=1)}
_MONTHS.update({name[:3]: number for name, number in list(_MONTHS.items())})
_MONTHS["sept"] = 9


# ------------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class RejectedRow:
    """A row that was not imported, and why."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file} line {self.line}: {self.reason}"


@dataclass(frozen=True)
class UnknownValue:
    """A value that could not be read, imported as unknown."""

    file: str
    line: int
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file} line {self.line}, {self.column} = {self.value!r}: {self.reason}"


@dataclass
class HistoricReview:
    """One incident as the body of `POST /historic-reviews`, with where it came from."""

    line: int
    body: dict[str, Any]

    @property
    def source_reference(self) -> str:
        return str(self.body["source_reference"])


@dataclass
class ImportPlan:
    """What an import would record, and every row or value it could not take as given."""

    directory: Path
    reviews: list[HistoricReview] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    unknowns: list[UnknownValue] = field(default_factory=list)
    rows_read: dict[str, int] = field(default_factory=dict)

    @property
    def victims(self) -> int:
        return sum(len(review.body["victims"]) for review in self.reviews)

    @property
    def perpetrators(self) -> int:
        return sum(len(review.body["perpetrators"]) for review in self.reviews)


class DhrdFormatError(Exception):
    """A file is missing or has no usable header: nothing can be imported."""


# ------------------------------------------------------------------------------------- parsing


@dataclass
class _Row:
    file: str
    line: int
    cells: dict[str, str]
    plan: ImportPlan

    def text(self, column: str) -> str | None:
        """The cell stripped; None when the column is absent, the cell empty or 'unknown'."""
        value = self.cells.get(column, "").strip()
        if not value or value.lower() in _UNKNOWN_MARKERS:
            return None
        if len(value) > _TEXT_LIMIT:
            self.unknown(column, value, f"longer than {_TEXT_LIMIT} characters")
            return None
        return value

    def boolean(self, column: str) -> bool | None:
        value = self.cells.get(column, "").strip()
        if not value:
            return None
        if value.lower() == "true":
            return True
        if value.lower() == "false":
            return False
        self.unknown(column, value, "not a boolean (True or False)")
        return None

    def unknown(self, column: str, value: str, reason: str) -> None:
        self.plan.unknowns.append(
            UnknownValue(self.file, self.line, column, value, f"{reason}: imported as unknown"))


def parse_dhrd(directory: Path) -> ImportPlan:
    """Read a DHRD directory into one historic review per incident, with a report of every row
    rejected and every value imported as unknown."""
    plan = ImportPlan(directory=directory)
    reviews: dict[str, HistoricReview] = {}
    for row in _rows(plan, INCIDENTS, "incident_id"):
        reference = row.cells["incident_id"].strip()
        if reference in reviews:
            plan.rejected.append(RejectedRow(
                row.file, row.line,
                f"duplicate incident_id {reference} (first on line {reviews[reference].line})"))
            continue
        reviews[reference] = HistoricReview(row.line, _incident(reference, row))
    for row in _rows(plan, VICTIMS, "victim_id"):
        review = _owner(row, reviews, "victim_id")
        if review is not None:
            review.body["victims"].append(_victim(row))
    for row in _rows(plan, PERPETRATORS, "perpetrator_id"):
        review = _owner(row, reviews, "perpetrator_id")
        if review is not None:
            review.body["perpetrators"].append(_perpetrator(row))
    plan.reviews = list(reviews.values())
    return plan


def _rows(plan: ImportPlan, name: str, id_column: str) -> Iterator[_Row]:
    """The file's rows as cells by column, each with the line it starts on; rows that cannot
    be a record (wrong width, no id, duplicate id) are rejected here."""
    path = plan.directory / name
    if not path.is_file():
        raise DhrdFormatError(f"{path} is missing: a DHRD directory has {INCIDENTS}, {VICTIMS} "
                              f"and {PERPETRATORS}.")
    required = ("incident_id",) if id_column == "incident_id" else (id_column, "incident_id")
    seen: dict[str, int] = {}
    plan.rows_read[name] = 0
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [column.strip() for column in next(reader, [])]
        missing = [column for column in required if column not in header]
        if missing:
            raise DhrdFormatError(f"{path} line 1: the header has no {', '.join(missing)} column.")
        for column in _expected_columns(name):
            if column not in header:
                plan.unknowns.append(UnknownValue(name, 1, column, "",
                                                  "column missing: imported as unknown"))
        start = reader.line_num + 1
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not cells:
                continue  # a blank line holds no row
            plan.rows_read[name] += 1
            if len(cells) != len(header):
                plan.rejected.append(RejectedRow(
                    name, line, f"{len(cells)} columns where the header has {len(header)}"))
                continue
            row = _Row(name, line, dict(zip(header, cells, strict=True)), plan)
            identifier = row.cells[id_column].strip()
            if not identifier:
                plan.rejected.append(RejectedRow(name, line, f"no {id_column}"))
                continue
            if id_column != "incident_id":
                if identifier in seen:
                    plan.rejected.append(RejectedRow(
                        name, line, f"duplicate {id_column} {identifier} (first on line "
                        f"{seen[identifier]})"))
                    continue
                seen[identifier] = line
            yield row


def _expected_columns(name: str) -> Sequence[str]:
    if name == INCIDENTS:
        return ("csp", "region", "death_date", "multiple_victims", "cause_of_death",
                "location_of_death", *CHARACTERISTICS)
    if name == VICTIMS:
        return ("age_at_death", "sex_of_victim", "relationship_to_perpetrator")
    return ("age_at_fatal_incident", "sex_of_perpetrator", "court_verdict")


def _owner(row: _Row, reviews: dict[str, HistoricReview], id_column: str) -> HistoricReview | None:
    incident = row.cells["incident_id"].strip()
    if not incident:
        row.plan.rejected.append(RejectedRow(
            row.file, row.line, f"{row.cells[id_column].strip()} has no incident_id"))
        return None
    review = reviews.get(incident)
    if review is None:
        row.plan.rejected.append(RejectedRow(
            row.file, row.line, f"{row.cells[id_column].strip()}: incident {incident} is not "
            f"in {INCIDENTS} (or its row there was rejected)"))
    return review


def _incident(reference: str, row: _Row) -> dict[str, Any]:
    year, month = _death_date(row)
    return {
        "source": SOURCE,
        "source_reference": reference,
        "csp": row.text("csp"),
        "region": row.text("region"),
        "death_year": year,
        "death_month": month,
        "multiple_victims": row.boolean("multiple_victims"),
        "cause_of_death": row.text("cause_of_death"),
        "location_of_death": row.text("location_of_death"),
        "characteristics": {name: row.boolean(name) for name in CHARACTERISTICS},
        "victims": [],
        "perpetrators": [],
    }


def _victim(row: _Row) -> dict[str, Any]:
    band, as_recorded = _age_band(row, "age_at_death")
    return {
        "source_reference": row.cells["victim_id"].strip(),
        "age_band": band,
        "age_band_as_recorded": as_recorded,
        "sex": _sex(row, "sex_of_victim"),
        "relationship_to_perpetrator": row.text("relationship_to_perpetrator"),
    }


def _perpetrator(row: _Row) -> dict[str, Any]:
    band, as_recorded = _age_band(row, "age_at_fatal_incident")
    return {
        "source_reference": row.cells["perpetrator_id"].strip(),
        "age_band": band,
        "age_band_as_recorded": as_recorded,
        "sex": _sex(row, "sex_of_perpetrator"),
        "court_verdict": row.text("court_verdict"),
    }


def _age_band(row: _Row, column: str) -> tuple[str | None, str | None]:
    """(codebook band, None), or (None, the value as recorded) when it is not a codebook band."""
    value = row.text(column)
    if value is None:
        return None, None
    compact = value.replace(" ", "")
    if compact in CODEBOOK_AGE_BANDS:
        return compact, None
    return None, value


def _sex(row: _Row, column: str) -> str | None:
    value = row.text(column)
    if value is not None and value.lower() in _SEXES:
        return value.lower()
    return value


_YEAR = re.compile(r"(\d{4})")
_MONTH_YEAR = re.compile(r"(\d{1,2})[-/.](\d{4})")
_ISO = re.compile(r"(\d{4})-(\d{1,2})(?:-\d{1,2})?")
_NAMED = re.compile(r"([A-Za-z]+)\.?,?\s+(\d{4})")


def _death_date(row: _Row) -> tuple[int | None, int | None]:
    """(year, month) of `death_date`; a value that cannot be read makes both unknown."""
    value = row.cells.get("death_date", "").strip()
    if not value or value.lower() in _UNKNOWN_MARKERS:
        return None, None
    year: str
    month: int | None
    if match := _YEAR.fullmatch(value):
        year, month = match.group(1), None
    elif match := _MONTH_YEAR.fullmatch(value):
        year, month = match.group(2), int(match.group(1))
    elif match := _ISO.fullmatch(value):
        year, month = match.group(1), int(match.group(2))
    elif (match := _NAMED.fullmatch(value)) and match.group(1).lower() in _MONTHS:
        year, month = match.group(2), _MONTHS[match.group(1).lower()]
    else:
        row.unknown("death_date", value, "not a date of death like September 2018, 09-2018 "
                    "or 2018")
        return None, None
    if not 1900 <= int(year) <= 2100 or (month is not None and not 1 <= month <= 12):
        row.unknown("death_date", value, "no such month or year")
        return None, None
    return int(year), month


# ------------------------------------------------------------------------------------ importing


@dataclass
class ImportResult:
    """What the commissioning service did with a plan."""

    recorded: int = 0
    already_present: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    review_ids: dict[str, UUID] = field(default_factory=dict)
    """Review id of each incident recorded or already present, by incident_id."""


class ImportFailed(Exception):
    """The commissioning service could not be reached or failed; running again is safe."""


async def import_dhrd(plan: ImportPlan, client: httpx.AsyncClient) -> ImportResult:
    """Post each review of the plan to the commissioning service (`client` has its base URL
    and an operator's bearer token).

    Safe to run again: the service derives each review's id from its incident_id and records
    the same content only once. A review the service refuses (e.g. the incident already recorded
    with different content) is rejected with its line in incidents.csv.
    """
    result = ImportResult(rejected=list(plan.rejected))
    for review in plan.reviews:
        try:
            response = await client.post("/historic-reviews", json=review.body)
        except httpx.HTTPError as error:
            raise ImportFailed(_stopped(result, f"{type(error).__name__}: {error}")) from error
        if response.status_code in (200, 201):
            answer = response.json()
            result.review_ids[review.source_reference] = UUID(answer["review_id"])
            if response.status_code == 201:
                result.recorded += 1
            else:
                result.already_present += 1
        elif 400 <= response.status_code < 500:
            result.rejected.append(RejectedRow(
                INCIDENTS, review.line, f"{review.source_reference} refused by the commissioning "
                f"service ({response.status_code}): {_detail(response)}"))
        else:
            raise ImportFailed(_stopped(result, f"HTTP {response.status_code}: {_detail(response)}"))
    result.rejected.sort(key=lambda rejected: (_FILE_ORDER.get(rejected.file, 3), rejected.line))
    return result


def _stopped(result: ImportResult, why: str) -> str:
    return (f"the commissioning service failed ({why}) after {result.recorded} recorded and "
            f"{result.already_present} already present; running the import again is safe")


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text[:500]


# ----------------------------------------------------------------------------------------- CLI


def main_import(argv: Sequence[str] | None = None) -> int:
    """`dhr import-dhrd DIR [--commissioning-url URL] [--token TOKEN] [--dry-run]`.

    Exit status 0 when every row was imported (or already present), 1 when some rows were
    rejected (the others are imported), 2 when nothing could be imported.
    """
    parser = argparse.ArgumentParser(
        prog="dhr import-dhrd",
        description="Import historic reviews from a Domestic Homicide Review Dataset (DHRD) "
        "directory through the commissioning service. Safe to run again.")
    parser.add_argument("directory", type=Path, help="Directory with incidents.csv, victims.csv "
                        "and perpetrators.csv.")
    parser.add_argument("--commissioning-url",
                        default=os.environ.get("DHR_COMMISSIONING_URL", DEFAULT_COMMISSIONING_URL),
                        help="Base URL of the commissioning service (default: "
                        "$DHR_COMMISSIONING_URL or %(default)s).")
    parser.add_argument("--token", default=os.environ.get("DHR_TOKEN"),
                        help="An operator's (admin) bearer token for the commissioning service "
                        "(default: $DHR_TOKEN; in development: `dhr token --role admin --org "
                        "ops`).")
    parser.add_argument("--dry-run", action="store_true",
                        help="Read and check the files, print the report, import nothing.")
    arguments = parser.parse_args(argv)
    try:
        plan = parse_dhrd(arguments.directory)
    except (DhrdFormatError, OSError, UnicodeDecodeError, csv.Error) as error:
        print(f"dhr import-dhrd: {error}", file=sys.stderr)
        return 2
    print(plan_summary(plan))
    if arguments.dry_run:
        print(rejection_report(plan.rejected, plan.unknowns))
        return 1 if plan.rejected else 0

    if not arguments.token:
        print("dhr import-dhrd: give an operator's bearer token with --token or DHR_TOKEN",
              file=sys.stderr)
        return 2

    async def run() -> ImportResult:
        async with httpx.AsyncClient(base_url=arguments.commissioning_url, timeout=30,
                                     headers={"Authorization": f"Bearer {arguments.token}"}
                                     ) as client:
            return await import_dhrd(plan, client)

    try:
        result = asyncio.run(run())
    except ImportFailed as error:
        print(f"dhr import-dhrd: {error}", file=sys.stderr)
        return 2
    print(f"recorded: {result.recorded}, already present: {result.already_present}, "
          f"rejected rows: {len(result.rejected)}")
    print(rejection_report(result.rejected, plan.unknowns))
    return 1 if result.rejected else 0


def plan_summary(plan: ImportPlan) -> str:
    read = ", ".join(f"{name} {count} rows" for name, count in plan.rows_read.items())
    return (f"DHRD {plan.directory}: read {read}; {len(plan.reviews)} reviews with "
            f"{plan.victims} victims and {plan.perpetrators} perpetrators to import; "
            f"{len(plan.rejected)} rows rejected; {len(plan.unknowns)} values imported as unknown")


def rejection_report(rejected: Sequence[RejectedRow], unknowns: Sequence[UnknownValue]) -> str:
    lines = [f"Rejected rows ({len(rejected)}):", *(f"  {row}" for row in rejected)]
    lines += [f"Values imported as unknown ({len(unknowns)}):",
              *(f"  {value}" for value in unknowns)]
    return "\n".join(lines)
