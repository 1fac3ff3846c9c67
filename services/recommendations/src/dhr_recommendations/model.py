"""The recommendations service's language: commands, errors and the state the decider reads (pure)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from dhr_contracts.errors import DomainError as DomainError  # re-exported: the domain's base
from dhr_contracts.panel import RecommendationLevel
from dhr_contracts.recommendations import (
    AddresseeType,
    CorrespondenceDirection,
    ImplementationStatus,
    RecommendationSource,
    RecommendationTheme,
    ResponseStatus,
    SmartAssessment,
    Tag,
)
from dhr_recommendations.deadlines import DEFAULT_RESPONSE_DUE_DAYS, DEFAULT_REVERIFICATION_MONTHS
from dhr_recommendations.status import is_closed, ntsb_status

# ---------------------------------------------------------------------------------------- errors


class InvalidCommand(DomainError):
    """The command's own data breaks a rule (dates out of order, a rejection without reason...)."""


class RecommendationNotFound(DomainError):
    """No recommendation with this id."""


class AddresseeNotFound(DomainError):
    """The recommendation has no addressee with this id."""


class IllegalTransition(DomainError):
    """The status may not move from where it is to where the command asks."""


# -------------------------------------------------------------------------------------- commands

AddresseeIdField = Field(min_length=1, max_length=80, description="The addressee's id.")


class Command(BaseModel):
    """A request to change one recommendation (stream `recommendation-<recommendation_id>`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    recommendation_id: UUID = Field(description="The recommendation.")


class AddresseeInput(BaseModel):
    """One addressee as given when a recommendation is recorded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200,
                      description="The agency or government department that must act.")
    addressee_type: AddresseeType | None = Field(
        default=None, description="The library's addressee category; inferred from the name "
        "when not given.")
    target_date: date | None = Field(default=None, description="Date this addressee's action "
                                     "is due; the recommendation's target date when not given.")


class RecordRecommendation(Command):
    """Record a recommendation (from an agreed report or entered directly), with its SMART check.

    Structurally missing fields (no text, no addressee) are refused; weak SMART content is
    recorded with its flags.
    """

    review_id: UUID = Field(description="The review that made the recommendation.")
    source: RecommendationSource = RecommendationSource.DIRECT
    number: int | None = Field(default=None, ge=1, le=10_000,
                               description="Its number in the report.")
    text: str = Field(min_length=1, max_length=10_000, description="The recommendation as worded.")
    level: RecommendationLevel = Field(description="local, regional or national.")
    themes: tuple[RecommendationTheme, ...] = Field(
        default=(), max_length=8, description="Home Office library themes; inferred from the "
        "wording when none are given.")
    tags: tuple[Tag, ...] = Field(default=(), max_length=30, description="Free tags, lower case.")
    addressees: tuple[AddresseeInput, ...] = Field(min_length=1, max_length=30,
                                                   description="Who must act (at least one).")
    csp_area: str | None = Field(default=None, min_length=1, max_length=200,
                                 description="CSP area; the review's known area when not given.")
    issued_on: date = Field(description="Date the recommendation was issued.")
    measure_of_success: str | None = Field(default=None, min_length=1, max_length=10_000,
                                           description="How success will be measured.")
    target_date: date | None = Field(default=None, description="Date the action is due (for "
                                     "every addressee without its own); read from the wording "
                                     "when not given.")
    response_due_days: dict[AddresseeType, int] = Field(
        default_factory=dict, description="Policy in force: days allowed for a response, by "
        "addressee type.")
    default_response_due_days: int = Field(default=DEFAULT_RESPONSE_DUE_DAYS, ge=1, le=3650)


class RecordResponse(Command):
    """Record an addressee's response (a move of the response axis)."""

    addressee_id: str = AddresseeIdField
    status: ResponseStatus = Field(description="The response status now.")
    recorded_on: date = Field(description="Date of the response.")
    reason: str | None = Field(default=None, min_length=1, max_length=10_000,
                               description="Why; required for a rejection.")
    action_plan: str | None = Field(default=None, min_length=1, max_length=10_000,
                                    description="What the addressee will do.")
    target_date: date | None = Field(default=None, description="Action target date agreed.")


class ClaimImplementation(Command):
    """The addressee reports progress on its action (its claim, not the CSP's verification)."""

    addressee_id: str = AddresseeIdField
    status: ImplementationStatus = Field(description="The claimed implementation status now.")
    claimed_on: date = Field(description="Date of the update.")
    summary: str = Field(min_length=1, max_length=10_000, description="What was done.")
    evidence_reference: str | None = Field(default=None, min_length=1, max_length=200,
                                           description="Reference of the evidence offered.")


class VerifyImplementation(Command):
    """The CSP records the implementation status it verified (re-verifying is allowed)."""

    addressee_id: str = AddresseeIdField
    status: ImplementationStatus = Field(description="The verified implementation status.")
    verified_on: date = Field(description="Date of the verification.")
    verified_by: str = Field(min_length=1, max_length=200, description="Who verified (a role).")
    note: str = Field(min_length=1, max_length=10_000, description="What it rested on.")
    evidence_reference: str | None = Field(default=None, min_length=1, max_length=200)
    exceeds_recommended_action: bool = False
    reverification_months: int = Field(default=DEFAULT_REVERIFICATION_MONTHS, ge=1, le=120)


class LogCorrespondence(Command):
    """Log correspondence or evidence against an addressee."""

    addressee_id: str = AddresseeIdField
    entry_id: UUID
    logged_on: date = Field(description="Date of the correspondence.")
    direction: CorrespondenceDirection
    correspondent: str = Field(min_length=1, max_length=200, description="Who (a role or person).")
    summary: str = Field(min_length=1, max_length=10_000, description="What it said.")
    evidence_reference: str | None = Field(default=None, min_length=1, max_length=200)


class CheckDeadlines(Command):
    """Record what is overdue or due for re-verification as of a date, once per deadline."""

    as_of: date


# ----------------------------------------------------------------------------------------- state


class StatusChange(BaseModel):
    """One entry of an addressee's status history: a response, a claim or a verification."""

    model_config = ConfigDict(frozen=True)

    on: date
    axis: str  # response, claimed or verified
    status: str
    by: str  # addressee or csp
    note: str | None = None
    evidence_reference: str | None = None


class CorrespondenceEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    entry_id: UUID
    logged_on: date
    direction: CorrespondenceDirection
    correspondent: str
    summary: str
    evidence_reference: str | None = None


class AddresseeState(BaseModel):
    """One addressee's action plan and its two-axis status."""

    model_config = ConfigDict(frozen=True)

    addressee_id: str
    name: str
    addressee_type: AddresseeType
    addressee_type_inferred: bool = False
    response_due_on: date
    target_date: date | None = None
    response_status: ResponseStatus = ResponseStatus.AWAITING_RESPONSE
    response_reason: str | None = None
    action_plan: str | None = None
    implementation_claimed: ImplementationStatus = ImplementationStatus.NOT_STARTED
    implementation_verified: ImplementationStatus | None = None
    verified_on: date | None = None
    exceeds_recommended_action: bool = False
    reverify_on: date | None = None
    response_overdue_dates: tuple[date, ...] = ()
    action_overdue_dates: tuple[date, ...] = ()
    reverification_reminded_for: tuple[date, ...] = ()
    """Verification dates whose re-verification reminder was recorded."""
    history: tuple[StatusChange, ...] = ()
    correspondence: tuple[CorrespondenceEntry, ...] = ()

    @property
    def open(self) -> bool:
        return not is_closed(self.implementation_verified)

    @property
    def ntsb_status(self) -> str:
        return ntsb_status(self.response_status, self.implementation_claimed,
                           self.implementation_verified,
                           exceeds_recommended_action=self.exceeds_recommended_action)


class RecommendationState(BaseModel):
    """A recommendation as its decider sees it."""

    model_config = ConfigDict(frozen=True)

    recorded: bool = False
    recommendation_id: UUID | None = None
    review_id: UUID | None = None
    source: RecommendationSource | None = None
    number: int | None = None
    text: str = ""
    level: RecommendationLevel = RecommendationLevel.LOCAL
    themes: tuple[RecommendationTheme, ...] = ()
    themes_inferred: bool = False
    tags: tuple[str, ...] = ()
    csp_area: str | None = None
    issued_on: date | None = None
    measure_of_success: str | None = None
    smart: SmartAssessment | None = None
    addressees: tuple[AddresseeState, ...] = ()

    @property
    def open(self) -> bool:
        """NTSB-style: open until every addressee is closed by a verification."""
        return any(a.open for a in self.addressees)

    def addressee(self, addressee_id: str) -> AddresseeState:
        for addressee in self.addressees:
            if addressee.addressee_id == addressee_id:
                return addressee
        # The id is not repeated: a refusal never echoes what the caller sent.
        raise AddresseeNotFound(
            f"Recommendation {self.recommendation_id} has no addressee of that id.",
            "addressee_id")
