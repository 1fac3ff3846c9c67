"""Integration settings: the platform's plus the topics matched and the delivery policy."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator

from dhr_contracts.topics import COMMISSIONING_EVENTS, PANEL_EVENTS, RECOMMENDATIONS_EVENTS
from dhr_integration.domain import RetryPolicy
from dhr_platform.settings import PlatformSettings

# The public topics whose events can concern an agency (domain.KIND_OF_EVENT_TYPE).
AGENCY_EVENT_TOPICS: tuple[str, ...] = (COMMISSIONING_EVENTS, PANEL_EVENTS, RECOMMENDATIONS_EVENTS)

MATCHING_CONSUMER = "integration-matching"


class IntegrationSettings(PlatformSettings):
    """`DHR_*` environment variables for the integration service."""

    http_port: int = Field(default=8006, ge=1, le=65535)
    integration_topics: tuple[str, ...] = Field(
        default=AGENCY_EVENT_TOPICS, min_length=1,
        description="Topics whose events are matched to subscriptions (a JSON list) "
        "(DHR_INTEGRATION_TOPICS).")
    integration_consumer_group: str = Field(
        default=MATCHING_CONSUMER, min_length=1,
        description="The matching consumer's Kafka group and inbox name "
        "(DHR_INTEGRATION_CONSUMER_GROUP).")
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120,
        description="How long one delivery attempt may take (DHR_WEBHOOK_TIMEOUT_SECONDS).")
    webhook_initial_backoff_seconds: float = Field(
        default=5.0, gt=0,
        description="Wait after the first failed attempt; doubled after each further failure "
        "(DHR_WEBHOOK_INITIAL_BACKOFF_SECONDS).")
    webhook_max_backoff_seconds: float = Field(
        default=3600.0, gt=0,
        description="Longest wait between two attempts (DHR_WEBHOOK_MAX_BACKOFF_SECONDS).")
    webhook_max_age_seconds: float = Field(
        default=3 * 24 * 3600.0, gt=0,
        description="A delivery not accepted this long after it was due is marked failed "
        "(DHR_WEBHOOK_MAX_AGE_SECONDS; three days by default).")
    webhook_poll_seconds: float = Field(
        default=0.5, gt=0,
        description="How often the delivery worker looks for due deliveries when idle "
        "(DHR_WEBHOOK_POLL_SECONDS).")
    webhook_concurrency: int = Field(
        default=16, ge=1, le=500,
        description="Deliveries sent at once, each to a different subscription and review "
        "(DHR_WEBHOOK_CONCURRENCY).")

    @field_validator("integration_topics")
    @classmethod
    def _distinct_topics(cls, topics: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(topics)) != len(topics):
            raise ValueError("topics must be distinct")
        return topics

    @property
    def allow_loopback_http(self) -> bool:
        """Plain http to this machine is allowed in development and tests only."""
        return self.is_development

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(initial_backoff=timedelta(seconds=self.webhook_initial_backoff_seconds),
                           max_backoff=timedelta(seconds=self.webhook_max_backoff_seconds),
                           max_age=timedelta(seconds=self.webhook_max_age_seconds))
