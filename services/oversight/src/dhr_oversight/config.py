"""Oversight settings: the platform's plus the ledger's topics, checkpoints and signing keys."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from dhr_contracts.topics import (
    COMMISSIONING_EVENTS,
    LEARNING_EVENTS,
    OVERSIGHT_CHECKPOINTS,
    PANEL_EVENTS,
    RECOMMENDATIONS_EVENTS,
)
from dhr_platform.settings import PlatformSettings

# Every service's event topic, in the fixed order the ledger's rebuild falls back on (ADR 0006).
# The intake topic carries raw notifications, not events, so it is not in the ledger.
SERVICE_EVENT_TOPICS: tuple[str, ...] = (
    COMMISSIONING_EVENTS, PANEL_EVENTS, LEARNING_EVENTS, RECOMMENDATIONS_EVENTS,
)

LEDGER_CONSUMER = "oversight-ledger"


class OversightSettings(PlatformSettings):
    """`DHR_*` environment variables for the oversight service and the `dhr` command."""

    http_port: int = Field(default=8005, ge=1, le=65535)
    oversight_topics: tuple[str, ...] = Field(
        default=SERVICE_EVENT_TOPICS, min_length=1,
        description="Event topics the ledger consumes (a JSON list); every service topic by default.")
    oversight_consumer_group: str = Field(
        default=LEDGER_CONSUMER, min_length=1,
        description="The ledger's Kafka consumer group (and inbox name).")
    oversight_checkpoint_topic: str = Field(
        default=OVERSIGHT_CHECKPOINTS, description="Where signed checkpoints are published.")
    oversight_origin: str = Field(
        default="dhr.example/oversight", min_length=1, max_length=200, pattern=r"^[^\s+][^\n]*$",
        description="The log's origin: first line of every checkpoint, and the signing key's name.")
    oversight_checkpoint_every_events: int = Field(
        default=1000, ge=1, description="A checkpoint is issued at least every this many events...")
    oversight_checkpoint_every_seconds: float = Field(
        default=60.0, gt=0, description="...and at least this often while the log grows.")
    oversight_checkpoint_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often the checkpoint task looks at the log.")
    oversight_signing_key: SecretStr | None = Field(
        default=None,
        description="Base64 32-byte Ed25519 seed(s), comma-separated, oldest first: the last one "
        "signs, all are published as verifier keys (rotation).")
    oversight_signing_key_file: Path | None = Field(
        default=None,
        description="A file of base64 Ed25519 seeds, one a line, oldest first (# comments allowed); "
        "the last one signs.")
    state_dir: Path = Field(
        default=Path(".local"),
        description="Local state (`make run`): where a development signing key is generated.")

    @field_validator("oversight_topics")
    @classmethod
    def _distinct_topics(cls, topics: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(topics)) != len(topics):
            raise ValueError("topics must be distinct")
        return topics
