"""Learning settings: the platform's, with the learning service's port."""

from __future__ import annotations

from pydantic import Field

from dhr_platform.settings import PlatformSettings


class LearningSettings(PlatformSettings):
    """`DHR_*` environment variables for the learning service."""

    http_port: int = Field(default=8003, ge=1, le=65535)
