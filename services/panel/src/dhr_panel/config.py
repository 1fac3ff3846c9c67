"""Panel settings: the platform's plus the quorum rule and the deadline watcher's period."""

from __future__ import annotations

from pydantic import Field

from dhr_platform.settings import PlatformSettings


class PanelSettings(PlatformSettings):
    """`DHR_*` environment variables for the panel service."""

    http_port: int = Field(default=8002, ge=1, le=65535)
    panel_quorum_min_agencies: int = Field(
        default=3, ge=1, le=100,
        description="Full-member agencies (panel_member or agency_lead) that must attend for a "
        "meeting to be quorate (DHR_PANEL_QUORUM_MIN_AGENCIES).")
    panel_quorum_requires_chair: bool = Field(
        default=True,
        description="Whether the independent Chair must attend for a meeting to be quorate "
        "(DHR_PANEL_QUORUM_REQUIRES_CHAIR).")
    panel_deadline_check_seconds: float = Field(
        default=60.0, gt=0,
        description="How often the watcher looks for overdue information requests "
        "(DHR_PANEL_DEADLINE_CHECK_SECONDS).")
