"""Typed configuration from `DHR_*` environment variables, read once at start."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_DATABASE_URL = "postgresql://postgres@127.0.0.1:55432/dhr"
DEV_KAFKA_BOOTSTRAP = "127.0.0.1:9092"


class ObservabilitySettings(BaseSettings):
    """Logs, traces, metrics and shutdown; the OpenTelemetry variables are read too."""

    model_config = SettingsConfigDict(env_prefix="DHR_", extra="ignore", frozen=True,
                                      populate_by_name=True)

    log_format: Literal["json", "text"] = Field(
        default="json", description="json: one object per line with trace ids; text: for people.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    otel_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DHR_OTEL_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="Base URL of an OTLP/HTTP collector (http://collector:4318); traces and "
        "metrics are exported there. Unset: spans are not recorded, metrics only on /metrics.")
    otel_service_name: str | None = Field(
        default=None, validation_alias=AliasChoices("DHR_OTEL_SERVICE_NAME", "OTEL_SERVICE_NAME"),
        description="service.name of the telemetry; default dhr-<service>.")
    otel_metrics_export_seconds: float = Field(default=60.0, gt=0,
                                               description="Interval of the OTLP metrics export.")
    metrics_sample_seconds: float = Field(
        default=15.0, gt=0, description="How often the outbox backlog and consumer lag are "
        "sampled (and before every /metrics scrape).")
    shutdown_drain_seconds: float = Field(
        default=10.0, gt=0, description="On stop, how long the relay may take to publish what "
        "is committed before giving up (what is left is published at the next start).")

    @field_validator("otel_endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL (OTLP over HTTP)")
        return value


class PlatformSettings(ObservabilitySettings):
    """Settings every service shares; a service subclasses it to add its own."""

    model_config = SettingsConfigDict(env_prefix="DHR_", extra="ignore", frozen=True)

    environment: str = Field(default="development", description="development, test or production.")
    database_url: str = Field(default=DEV_DATABASE_URL, description="PostgreSQL URL (asyncpg).")
    database_pool_size: int = Field(default=10, ge=1, le=200)
    kafka_bootstrap: str = Field(default=DEV_KAFKA_BOOTSTRAP, description="host:port[,host:port]")
    topic_partitions: int = Field(default=3, ge=1, description="Partitions of topics we create.")
    topic_replication_factor: int = Field(default=1, ge=1)
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, description="Larger bodies get 413.")
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    relay_idle_poll_seconds: float = Field(default=0.05, gt=0)
    relay_max_backoff_seconds: float = Field(default=5.0, gt=0)
    consumer_max_attempts: int = Field(default=5, ge=1, description="Tries before dead-lettering.")
    consumer_initial_backoff_seconds: float = Field(default=0.2, ge=0)
    consumer_max_backoff_seconds: float = Field(default=5.0, ge=0)

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @property
    def is_development(self) -> bool:
        return self.environment in {"development", "test"}

    def refuse_development_defaults(self) -> None:
        """Outside development, refuse to run on the laptop defaults."""
        if self.is_development:
            return
        if self.database_url == DEV_DATABASE_URL or self.kafka_bootstrap == DEV_KAFKA_BOOTSTRAP:
            raise ValueError(
                "DHR_DATABASE_URL and DHR_KAFKA_BOOTSTRAP must be set outside development"
            )
