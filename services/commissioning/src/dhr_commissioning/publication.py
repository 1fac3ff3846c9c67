"""From agreed report to publication: the records a review case keeps, and their input rules.

Pure: standard library, pydantic and the contracts only. The deciders that use these live in
`domain.py` (they need the whole review state); this module holds what does not.
"""

from __future__ import annotations

import re
from datetime import date

from pydantic import BaseModel, ConfigDict

from dhr_contracts.commissioning import QualityAssuranceOutcome, ReportRecipient

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AgreedReport(_Record):
    """The overview report as the panel last agreed it."""

    report_version: int
    agreed_on: date
    recommendation_count: int


class SignOff(_Record):
    """The CSP's sign-off of one agreed report version."""

    report_version: int
    signed_off_on: date
    signed_off_by: str


class HomeOfficeSubmission(_Record):
    """One Quality Assurance cycle: a submission and, once decided, its outcome."""

    submission_number: int
    submitted_on: date
    report_version: int
    resubmission: bool
    outcome: QualityAssuranceOutcome | None = None
    decided_on: date | None = None
    areas_for_development: tuple[str, ...] = ()


class Publication(_Record):
    """Where and when the anonymised report was published."""

    published_on: date
    report_version: int
    location: str


class Delivery(_Record):
    """A copy of the published report sent to an oversight recipient."""

    recipient: ReportRecipient
    delivered_on: date
    document_version: int
    sha256: str


def normalised_sha256(value: str) -> str | None:
    """The digest in lower case when it is 64 hexadecimal characters, else None."""
    digest = value.strip().lower()
    return digest if _SHA256_HEX.fullmatch(digest) else None


def cleaned_areas(areas: tuple[str, ...]) -> tuple[str, ...] | None:
    """The areas for development trimmed, or None when any of them is blank."""
    cleaned = tuple(area.strip() for area in areas)
    return cleaned if all(cleaned) else None
