"""Commissioning settings: the platform's plus the statutory deadline policy."""

from __future__ import annotations

from pydantic import Field

from dhr_platform.settings import PlatformSettings


class CommissioningSettings(PlatformSettings):
    """`DHR_*` environment variables for the commissioning service."""

    http_port: int = Field(default=8001, ge=1, le=65535)
    decision_due_months: int = Field(
        default=1, ge=1, le=12,
        description="Months after the CSP learned of the death within which the decision is due.")
    completion_due_months: int = Field(
        default=6, ge=1, le=24,
        description="Months after the decision within which the review is due (twelve is under "
        "consultation), net of pauses.")
