"""Access events: a read of restricted material (personal data, IMRs, family testimony) that a
service disclosed, recorded with who read it, when and why (docs/security.md).

Each service records its own reads in its own stream `access-<review id>` and publishes them on
its own topic, so the type names the service. The payload holds no personal data: the purpose is
a code, the resource is the route's template, never the URL with its ids and query.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import AwareDatetime, Field

from dhr_contracts.base import EventPayload, ShortText

PURPOSE_PATTERN = r"^[a-z][a-z0-9-]{2,39}$"
PurposeCode = Annotated[str, Field(pattern=PURPOSE_PATTERN)]
"""Why restricted material was read: a short code (e.g. `review-work`, `safeguarding`,
`oversight-audit`) the caller states in the `DHR-Purpose` request header."""


class Material(StrEnum):
    """Kinds of restricted material."""

    PERSONAL_DATA = "personal_data"
    """Sealed personal values (names, contact details, testimony...) opened in plaintext."""
    IMR = "imr"
    """An agency's Individual Management Review (its information request and returns)."""
    FAMILY_TESTIMONY = "family_testimony"
    """What the family, friends or children told the review."""


class RestrictedMaterialRead(EventPayload):
    """Restricted material of one review was disclosed to a caller (its actor, roles and
    organisation are in the event's metadata)."""

    event_type: ClassVar[str] = "dhr.access.RestrictedMaterialRead.v1"

    review_id: UUID = Field(description="The review whose material was read.")
    purpose: PurposeCode = Field(description="Why, as the caller stated it (`DHR-Purpose`).")
    resource: ShortText = Field(
        description="What was read: the method and route template, e.g. "
        "`GET /reviews/{review_id}`.")
    material: tuple[Material, ...] = Field(min_length=1, description="Kinds of material read.")
    values_disclosed: int = Field(
        ge=0, description="How many sealed personal values were opened in plaintext.")
    read_at: AwareDatetime = Field(description="When the material was disclosed.")


class CommissioningMaterialRead(RestrictedMaterialRead):
    """A read of a review's restricted material in the commissioning service."""

    event_type: ClassVar[str] = "dhr.commissioning.RestrictedMaterialRead.v1"


class PanelMaterialRead(RestrictedMaterialRead):
    """A read of a review's restricted material in the panel service."""

    event_type: ClassVar[str] = "dhr.panel.RestrictedMaterialRead.v1"


class LearningMaterialRead(RestrictedMaterialRead):
    """A read of a review's restricted material in the learning service."""

    event_type: ClassVar[str] = "dhr.learning.RestrictedMaterialRead.v1"


class RecommendationsMaterialRead(RestrictedMaterialRead):
    """A read of a review's restricted material in the recommendations service."""

    event_type: ClassVar[str] = "dhr.recommendations.RestrictedMaterialRead.v1"


EVENTS: tuple[type[RestrictedMaterialRead], ...] = (
    CommissioningMaterialRead,
    PanelMaterialRead,
    LearningMaterialRead,
    RecommendationsMaterialRead,
)
