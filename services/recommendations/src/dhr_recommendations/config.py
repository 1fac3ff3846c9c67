"""Recommendations settings: the platform's plus the deadline policies, the watcher's period and
the library's recurrence threshold."""

from __future__ import annotations

from pydantic import Field

from dhr_contracts.recommendations import AddresseeType
from dhr_platform.settings import PlatformSettings
from dhr_recommendations.deadlines import DEFAULT_RESPONSE_DUE_DAYS, DEFAULT_REVERIFICATION_MONTHS
from dhr_recommendations.library import DEFAULT_SIMILARITY_THRESHOLD


class RecommendationsSettings(PlatformSettings):
    """`DHR_*` environment variables for the recommendations service."""

    http_port: int = Field(default=8004, ge=1, le=65535)
    recommendations_response_due_days: int = Field(
        default=DEFAULT_RESPONSE_DUE_DAYS, ge=1, le=3650,
        description="Days after issue within which an addressee's response is due, unless its "
        "type has its own (DHR_RECOMMENDATIONS_RESPONSE_DUE_DAYS).")
    recommendations_response_due_days_by_type: dict[AddresseeType, int] = Field(
        default_factory=dict,
        description="Response periods by addressee type, as JSON, e.g. "
        '{"government_department": 90} (DHR_RECOMMENDATIONS_RESPONSE_DUE_DAYS_BY_TYPE).')
    recommendations_reverification_months: int = Field(
        default=DEFAULT_REVERIFICATION_MONTHS, ge=1, le=120,
        description="Months after a verified implementation when it is checked again "
        "(DHR_RECOMMENDATIONS_REVERIFICATION_MONTHS).")
    recommendations_deadline_check_seconds: float = Field(
        default=300.0, gt=0,
        description="How often the watcher looks for overdue responses and actions "
        "(DHR_RECOMMENDATIONS_DEADLINE_CHECK_SECONDS).")
    library_similarity_threshold: float = Field(
        default=DEFAULT_SIMILARITY_THRESHOLD, gt=0, le=1,
        description="Trigram similarity from which a new recommendation is linked to an earlier "
        "one as a recurrence, and the default of /library/similar "
        "(DHR_LIBRARY_SIMILARITY_THRESHOLD).")
    library_index_refresh_seconds: float = Field(
        default=10.0, gt=0,
        description="How often the in-memory similarity index reads newly recorded "
        "recommendations in the background; a lookup also reads them first "
        "(DHR_LIBRARY_INDEX_REFRESH_SECONDS).")
