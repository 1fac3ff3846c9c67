"""Events of the panel service: the review itself, from panel to agreed report."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from dhr_contracts.base import EventPayload, NonEmptyText, ShortText


class RecommendationLevel(StrEnum):
    """Where a recommendation is to be acted on."""

    LOCAL = "local"
    REGIONAL = "regional"
    NATIONAL = "national"


class AgreedRecommendation(BaseModel):
    """One recommendation of an agreed report, as the recommendations service receives it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    number: int = Field(ge=1, description="The recommendation's number in the report.")
    text: NonEmptyText = Field(description="The recommendation as worded in the report.")
    addressee_agencies: tuple[ShortText, ...] = Field(
        min_length=1, description="Agencies (or, for a national recommendation, government "
        "departments) the recommendation is addressed to.")
    level: RecommendationLevel = Field(description="local, regional or national.")


class ReviewReportAgreed(EventPayload):
    """The panel agreed the overview report; its recommendations go to the recommendations
    service and the CSP takes the report to the Home Office."""

    event_type: ClassVar[str] = "dhr.panel.ReviewReportAgreed.v1"

    review_id: UUID = Field(description="Id of the review.")
    agreed_on: date = Field(description="Date the panel agreed the report.")
    report_version: int = Field(ge=1, description="The draft version that was agreed.")
    recommendations: tuple[AgreedRecommendation, ...] = Field(
        description="The report's recommendations, in report order.")


EVENTS: tuple[type[EventPayload], ...] = (ReviewReportAgreed,)
